#!/bin/sh
# azd preprovision/predeploy hook: stop before anything reaches Azure when the azd environment's
# PARALLEL_JOB_HOSTING_PLAN is not the plan of the azure.yaml that azd is running. The template provisions
# whichever plan the variable names, but each azure.yaml deploys to one kind of app (docs/deploy.md):
#   azure.yaml (repository root)      flexconsumption, the default
#   infra/container/azure.yaml        containerapp
# Usage: hosting-plan.sh <the plan this azure.yaml deploys>
set -eu

expected="${1:?usage: hosting-plan.sh flexconsumption|containerapp}"
actual="${PARALLEL_JOB_HOSTING_PLAN:-flexconsumption}"

if [ "$actual" = "$expected" ]; then
  exit 0
fi

case "$expected" in
  containerapp)
    echo "hosting-plan: this is the container option's azure.yaml, but PARALLEL_JOB_HOSTING_PLAN is '$actual'." >&2
    echo "  Choose the container option for this azd environment (azd -C infra/container from the repository root):" >&2
    echo "    azd env set PARALLEL_JOB_HOSTING_PLAN containerapp" >&2
    echo "  or deploy to Flex Consumption with the azure.yaml at the repository root." >&2
    ;;
  *)
    echo "hosting-plan: PARALLEL_JOB_HOSTING_PLAN is '$actual', but this azure.yaml deploys to '$expected'." >&2
    echo "  For the container option, run azd with infra/container/azure.yaml, in an environment of its own:" >&2
    echo "    azd -C infra/container up" >&2
    echo "  or go back to Flex Consumption: azd env set PARALLEL_JOB_HOSTING_PLAN flexconsumption" >&2
    ;;
esac
exit 1
