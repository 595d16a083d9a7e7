"""An exact NumPy-only predictor for the pipelines petalflow trains (the fast path).

It repeats scikit-learn 1.9's arithmetic for a fitted StandardScaler + multinomial
LogisticRegression or RandomForestClassifier, with no sklearn, pandas or validation
overhead on the hot path, and is used only when verification finds it exact.
"""

from petalflow.serving.fastpath.base import FastPath
from petalflow.serving.fastpath.forest import ForestFastPath
from petalflow.serving.fastpath.logistic import LogisticFastPath
from petalflow.serving.fastpath.verification import (
    build_verified_fast_path,
    check_fast_path,
    compile_fast_path,
    verification_inputs,
    verify,
)

__all__ = [
    "FastPath",
    "ForestFastPath",
    "LogisticFastPath",
    "build_verified_fast_path",
    "check_fast_path",
    "compile_fast_path",
    "verification_inputs",
    "verify",
]
