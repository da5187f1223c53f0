"""Helpers the test packages share, by topic; fixtures stay in the `conftest.py` files,
which call these (a test module imports from here, never from a conftest or another test
module).

- `paths`: the project root.
- `azurite`: the Azurite storage emulator started and stopped, free ports, waiting for one.
- `functions_host`: what the Functions host and Python worker do around `function_app.py`.
- `cli`: the `shoplake` command as a user's environment runs it.
- `shops`: a lake fed with a small simulated shop, and refreshed tables compared.
- `events`: event batches as the Event Hubs trigger hands them over.
- `hostile`: hostile event bodies (Hypothesis strategies) and the checks they must pass.
- `files`: uploaded files' bytes: compressed, zipped, Parquet.
- `memory`: the peak memory of an operation.
"""
