# Sourced by run.sh and splits.sh: SOURCE[name] = the HDF5 table of every benchmark dataset
# (datasets/*.csv imported into $WORK, then ../shared/datasets/*.h5 when it is there), and
# names = the datasets named on the command line, else all of them, sorted. Needs AUTOML and WORK.
declare -A SOURCE
for csv in datasets/*.csv; do
  n=$(basename "$csv" .csv)
  "$AUTOML" import "$csv" "$WORK/$n.full.h5" --target target > /dev/null
  SOURCE[$n]=$WORK/$n.full.h5
done
if [ -d ../shared/datasets ]; then
  for h5 in ../shared/datasets/*.h5; do
    n=$(basename "$h5" .h5)
    [ -n "${SOURCE[$n]:-}" ] || SOURCE[$n]=$h5
  done
fi
names=("$@")
[ ${#names[@]} -gt 0 ] || names=($(printf '%s\n' "${!SOURCE[@]}" | sort))
