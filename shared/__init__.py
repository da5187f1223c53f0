"""shoplake's library: everything the Functions, the CLI and the tests share.

It never imports `azure.functions`; `function_app.py` adapts bindings to these calls.
"""

__version__ = "0.1.0"
