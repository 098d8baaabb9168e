#!/usr/bin/env bats
# The man pages (man/*.1, man/sherl.7) against the tools: every long option that a tool's
# --help prints is documented in the OPTIONS section of its page with the same default, no
# page documents an option the tool does not have, the required sections are there, and the
# roff source has no line that a formatter would misread. Needs nothing beyond awk and grep.
load common

MAN="$SHERL_ROOT/man"
TOOLS=(sherl-extract sherl-consolidate sherl-train sherl-eval sherl-info sherl-predict)
TOOL_SECTIONS=(NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" ENVIRONMENT FILES EXAMPLES "SEE ALSO")

# Prints one line per item of the OPTIONS section of page $1: the long option its .TP
# heading names, a tab, and the item's text with roff markup removed (font escapes,
# backslashes, macro names, quotes) and its lines joined.
man_options() {
  awk '
    function flush() { gsub(/  +/, " ", text); if (opt != "") print opt "\t" text; opt = ""; text = "" }
    function plain(s) {
      gsub(/\\f[BIRP]/, "", s); gsub(/\\\(em/, "-", s); gsub(/\\/, "", s)
      sub(/^\.[A-Za-z]+ */, "", s); gsub(/"/, "", s)
      return s
    }
    /^\.SH / { flush(); in_options = ($0 == ".SH OPTIONS"); next }
    !in_options { next }
    /^\.TP/ { flush(); heading = 1; next }
    heading {
      heading = 0
      if (match(plain($0), /--[a-z0-9-]+/)) opt = substr(plain($0), RSTART, RLENGTH)
    }
    opt != "" { text = text " " plain($0) }
    END { flush() }
  ' "$1"
}

# Checks the OPTIONS section of tool $1's page against its --help output.
check_options() {
  local tool=$1 page="$MAN/$1.1" help documented missing="" stale="" wrong=""
  [ -f "$page" ]
  help="$("$tool" --help)" || { echo "$tool --help failed"; return 1; }
  documented="$(man_options "$page")"
  for opt in $(grep -o -- '--[a-z0-9-]*' <<<"$help" | sort -u); do
    grep -q -- "^$opt	" <<<"$documented" || missing+=" $opt"
  done
  for opt in $(cut -f1 <<<"$documented"); do
    grep -qE -- "(^|[ ,])$opt([ =,]|$)" <<<"$help" || stale+=" $opt"
  done
  # CLI11 prints a default as "--name TYPE=VALUE"; the page must say "Default: VALUE".
  while read -r opt value; do
    local item
    item="$(grep -- "^$opt	" <<<"$documented" | cut -f2-)"
    [ -n "$item" ] || continue  # already reported as missing
    [[ "$item " =~ "Default: $value"[^0-9A-Za-z_] ]] || wrong+=" $opt=$value"
  done < <(sed -nE 's/^ *(-[a-z],)?(--[a-z0-9-]+) [A-Z]+[^ =]*=([^ ]+).*/\2 \3/p' <<<"$help")
  echo "$tool: undocumented:${missing:- none}; documented but not in --help:${stale:- none};" \
       "default missing or different:${wrong:- none}"
  [ -z "$missing$stale$wrong" ]
}

@test "man: sherl-extract documents every option of its --help, with its default" {
  check_options sherl-extract
}

@test "man: sherl-consolidate documents every option of its --help, with its default" {
  check_options sherl-consolidate
}

@test "man: sherl-train documents every option of its --help, with its default" {
  check_options sherl-train
}

@test "man: sherl-eval documents every option of its --help, with its default" {
  check_options sherl-eval
}

@test "man: sherl-info documents every option of its --help" {
  check_options sherl-info
}

@test "man: sherl-predict documents every option of its --help, with its default" {
  check_options sherl-predict
}

@test "man: the option check notices an undocumented option and a wrong default" {
  # A copy of the train page without --patience and with another --epochs default.
  mkdir "$WORK/man"
  awk '/^\.BI \\-\\-patience /{skip=1} skip && /^\.TP/{skip=0} !skip' "$MAN/sherl-train.1" |
    sed 's/^Number of epochs (at least 1)\. Default: 30\./Number of epochs. Default: 31./' >"$WORK/man/sherl-train.1"
  ! grep -q -- 'BI \\-\\-patience' "$WORK/man/sherl-train.1"
  MAN="$WORK/man" run check_options sherl-train
  echo "$output"
  [ "$status" -ne 0 ]
  [[ "$output" == *"undocumented: --patience;"* ]]
  [[ "$output" == *"--epochs=30"* ]]
}

@test "man: every tool page has the required sections, names its tool and refers to sherl(7)" {
  for tool in "${TOOLS[@]}"; do
    page="$MAN/$tool.1"
    for section in "${TOOL_SECTIONS[@]}"; do
      grep -qx "\.SH $section" "$page" || { echo "$page: no .SH $section"; false; }
    done
    grep -q "^\.TH ${tool^^} 1 " "$page" || { echo "$page: .TH is not ${tool^^} 1"; false; }
    grep -q "^$tool \\\\- " "$page" || { echo "$page: NAME does not start with '$tool \\-'"; false; }
    grep -q '^\.BR sherl (7),' "$page" || { echo "$page: SEE ALSO lacks sherl(7)"; false; }
  done
}

@test "man: sherl(7) has its sections and refers to every tool" {
  page="$MAN/sherl.7"
  for section in NAME SYNOPSIS DESCRIPTION ENVIRONMENT FILES EXAMPLES "SEE ALSO"; do
    grep -qx "\.SH $section" "$page" || { echo "$page: no .SH $section"; false; }
  done
  for tool in "${TOOLS[@]}"; do
    grep -q "^\.BR $tool (1)" "$page" || { echo "$page: SEE ALSO lacks $tool(1)"; false; }
  done
}

@test "man: the pages document the exit statuses, the error line and the environment" {
  for tool in "${TOOLS[@]}"; do
    page="$MAN/$tool.1"
    for status in 0 1 2; do
      grep -qx "\.B $status" "$page" || { echo "$page: exit status $status undocumented"; false; }
    done
    grep -qx '\.BR 130 ", " 143' "$page" || { echo "$page: signal exit statuses undocumented"; false; }
    grep -q "$tool: error:" "$page" || { echo "$page: the error line is undocumented"; false; }
    for var in OMP_WAIT_POLICY SHERL_NO_REEXEC; do
      grep -qx "\.B $var" "$page" || { echo "$page: $var undocumented"; false; }
    done
  done
}

@test "man: the usage-error exit status the pages document is the tools' own" {
  for tool in "${TOOLS[@]}"; do
    run "$tool" --no-such-option
    [ "$status" -eq 2 ] || { echo "$tool --no-such-option: status $status, documented 2"; false; }
  done
}

@test "man: no roff line that a formatter would misread" {
  # A text line starting with "." or "'" is taken as a request; only these macros are used.
  known='\.(TH|SH|SS|TP|IP|PP|RS|RE|nf|fi|br|nh|B|I|BI|BR|IR|RB|RI)( |$)'
  bad="$(grep -nE "^[.']" "$MAN"/*.1 "$MAN"/sherl.7 | grep -vE "^[^:]+:[0-9]+:$known" || true)"
  echo "$bad"
  [ -z "$bad" ]
}
