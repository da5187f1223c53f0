"""The nightly orchestration: pure generator orchestrators and thin activities.

Filled in by the orchestration issue; `shoplake nightly` will run the same steps embedded.
"""
