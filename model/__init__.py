"""The recommender (training, evaluation, ONNX export, the model registry and serving),
the revenue and units forecasts (`model.forecast`) and predicted customer value.

Like `shared`, it never imports `azure.functions`. Its public names load on first use,
so `import model.scoring` stays light and training's libraries load only to train;
`train` and `retrain` are their modules' names, so they are imported from there.
"""

from shared.exports import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "model.batch_scoring": ["score_customers"],
    "model.customer_value": ["CustomerValueResult", "predict_customer_value"],
    "model.evaluate": ["NotEnoughHistoryError"],
    "model.predictions": ["NoPredictionsError", "Predictions", "UnknownKeyError"],
    "model.interactions": ["NoPurchasesError"],
    "model.kinds": ["KINDS", "KindSpec"],
    "model.promotion": ["decide"],
    "model.registry": ["Manifest", "Registry"],
    "model.retrain": ["RetrainResult"],
    "model.scoring": ["ModelKind"],
    "model.serving": ["NoModelError", "Recommendations", "Recommender"],
    "model.train": ["Progress", "TrainResult", "TrainingConfig"],
})
