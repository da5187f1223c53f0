"""The recommender: training, evaluation, ONNX export and the model registry.

Like `shared`, it never imports `azure.functions`. Filled in by the recommendations issue.
"""
