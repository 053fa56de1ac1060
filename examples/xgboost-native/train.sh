#!/bin/sh
# Entry point of the native XGBoost job: hands the contract (SM_* variables,
# /opt/ml, `--key value` hyperparameters) straight to tandem-train-xgboost,
# which needs no Python. Set TANDEM_TRAIN_XGBOOST to its path if it is not on PATH.
exec "${TANDEM_TRAIN_XGBOOST:-tandem-train-xgboost}" "$@"
