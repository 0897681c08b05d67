# Sourced by tests/package/*.sh: step NAME COMMAND... runs the command quietly (its output
# in $work/NAME.log), prints its time, and on failure prints the log and exits.
step() {
  local name=$1 t0 log
  shift
  t0=$(date +%s.%N)
  log=$work/$name.log
  if ! "$@" >"$log" 2>&1; then
    echo "FAILED: $name: $*"
    cat "$log"
    exit 1
  fi
  printf '%-28s %6.1f s\n' "$name" "$(echo "$(date +%s.%N) - $t0" | bc)"
}
