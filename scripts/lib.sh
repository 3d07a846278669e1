#!/usr/bin/env bash
# Shared by the scripts (sourced, not run): Debian packages installed when missing, the
# generated benchmark market and the curl config of fresh pings. contracts_dir needs $WORK
# (a scratch dir) and $BIN (the release binaries); curl_config needs $KEY (a partner key of
# the generated market).

# apt_install PACKAGE: installs a Debian package (with sudo unless root), updating the
# package lists once per script.
apt_updated=false
apt_install() {
  local sudo_cmd=""
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
  echo "== installing $1 (Debian package)"
  if [ "$apt_updated" = false ]; then $sudo_cmd apt-get update -qq; apt_updated=true; fi
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "$1" >/dev/null
}

# contracts_dir N: one vertical, one offer "bench", two partners (keys
# bench-partner-key-0001 and -0002), ceil(N/3) buyers of 3 contracts each (as in the example
# contracts/, so checkpoint 3 has work to do), N fixed-price contracts without filters (every
# one a candidate for every ping). Buyers post to $BUYERS_URL/<buyer>/post: by default a
# port nothing listens on, for runs that never post.
contracts_dir() {
  local n=$1 dir="$WORK/contracts-$1"
  mkdir -p "$dir"
  {
    printf '[[verticals]]\nid = "auto"\ndedup_window_days = 30\n\n'
    printf '[[offers]]\nid = "bench"\nvertical = "auto"\nmode = "exclusive"\nping_budget_ms = 100\n\n'
    for key in bench-partner-key-0001 bench-partner-key-0002; do
      printf '[[partners]]\nid = "%s"\napi_key_sha256 = "%s"\noffers = ["bench"]\n\n' \
        "p-${key: -1}" "$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)"
    done
    for b in $(seq 1 $(((n + 2) / 3))); do
      printf '[[buyers]]\nid = "b%03d"\npost_url = "%s/b%03d/post"\n\n' "$b" "${BUYERS_URL:-http://127.0.0.1:9}" "$b"
    done
    for c in $(seq 1 "$n"); do
      printf '[[contracts]]\nid = "c%04d"\nbuyer = "b%03d"\noffer = "bench"\nprice = "%d.%02d"\n\n' \
        "$c" $(((c + 2) / 3)) $((10 + c % 20)) $((c % 100))
    done
  } >"$dir/market.toml"
  "$BIN/pingpost" check "$dir" >/dev/null
  echo "$dir"
}

# curl_config URL COUNT FILE [FIRST]: COUNT ping transfers, one after the other, each
# followed by a line "<status> <connections opened>"; ping i (from FIRST, 0 by default)
# carries the email instr-<i, 6 digits>@bench.example.
curl_config() {
  local url=$1 count=$2 file=$3 first=${4:-0} i
  for i in $(seq "$first" $((first + count - 1))); do
    [ "$i" -eq "$first" ] || echo next
    printf 'url = "%s/v1/ping"\n' "$url"
    printf 'header = "Authorization: Bearer %s"\n' "$KEY"
    printf 'json = "{\\"offer\\":\\"bench\\",\\"lead\\":{\\"email\\":\\"instr-%06d@bench.example\\",\\"state\\":\\"CA\\",\\"zip\\":\\"90210\\",\\"age\\":34}}"\n' "$i"
    printf 'write-out = "\\n%%{http_code} %%{num_connects}\\n"\n'
  done >"$file"
}

