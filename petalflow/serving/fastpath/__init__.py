"""An exact NumPy-only predictor for the pipelines petalflow trains (the fast path).

It repeats scikit-learn 1.9's arithmetic for a fitted StandardScaler, or a ColumnTransformer
of imputed and scaled numbers and imputed and one-hot encoded categories, followed by a
LogisticRegression (multinomial or binary) or a RandomForestClassifier (as lookup tables,
or walked tree by tree where the tables would be too large), with no sklearn, pandas or
validation overhead on the hot path; it is used only when verification finds it exact.
"""

from petalflow.serving.fastpath.base import FastPath, NumericInput, Preprocessor, UnsupportedError
from petalflow.serving.fastpath.columns import compile_preprocessor
from petalflow.serving.fastpath.forest import ForestFastPath
from petalflow.serving.fastpath.inputs import verification_inputs
from petalflow.serving.fastpath.logistic import LogisticFastPath
from petalflow.serving.fastpath.preprocess import (
    CategoryInput,
    ColumnPreprocessor,
    ScalerPreprocessor,
)
from petalflow.serving.fastpath.trees import WalkingForestFastPath
from petalflow.serving.fastpath.verification import (
    build_verified_fast_path,
    check_fast_path,
    compile_fast_path,
    compile_or_explain,
    verify,
)

__all__ = [
    "CategoryInput",
    "ColumnPreprocessor",
    "FastPath",
    "ForestFastPath",
    "LogisticFastPath",
    "NumericInput",
    "Preprocessor",
    "ScalerPreprocessor",
    "UnsupportedError",
    "WalkingForestFastPath",
    "build_verified_fast_path",
    "check_fast_path",
    "compile_fast_path",
    "compile_or_explain",
    "compile_preprocessor",
    "verification_inputs",
    "verify",
]
