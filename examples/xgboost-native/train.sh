#!/bin/sh
# Entry point of the native XGBoost job: hands the contract (SM_* variables,
# /opt/ml, `--key value` hyperparameters) straight to tandem-train-xgboost,
# which needs no Python. The trainer is taken from TANDEM_TRAIN_XGBOOST, else
# from this code directory (ship the binary with the source_dir: sandboxed
# jobs see a private /tmp, so host paths under /tmp are not visible), else PATH.
here=$(dirname "$0")
if [ -n "${TANDEM_TRAIN_XGBOOST:-}" ]; then
  exec "$TANDEM_TRAIN_XGBOOST" "$@"
elif [ -x "$here/tandem-train-xgboost" ]; then
  exec "$here/tandem-train-xgboost" "$@"
fi
exec tandem-train-xgboost "$@"
