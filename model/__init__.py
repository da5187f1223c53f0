"""The recommender: training, evaluation, ONNX export, the model registry and serving.

Like `shared`, it never imports `azure.functions`.
"""
