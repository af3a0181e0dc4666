#!/usr/bin/env bash
# The message catalogues (labeld/locale/): extract the English source strings, merge them into each
# language's .po, compile the .mo files that labeld reads. Run after changing any _() / N_() string;
# then translate the new entries in labeld/locale/<lang>/LC_MESSAGES/labeld.po and run it again.
# tests/test_i18n.py fails while a catalogue lacks a message or a .mo is older than its .po.
set -euo pipefail
cd "$(dirname "$0")/.."
pybabel=.venv/bin/pybabel
"$pybabel" extract -F babel.cfg -k N_ --no-location --sort-output --project labeld \
    --copyright-holder "labeld authors" -o labeld/locale/labeld.pot . >/dev/null
for lang in ru zh_CN; do
    po=labeld/locale/$lang/LC_MESSAGES/labeld.po
    if [ -f "$po" ]; then
        "$pybabel" update -i labeld/locale/labeld.pot -d labeld/locale -D labeld -l "$lang" --no-fuzzy-matching \
            --ignore-obsolete >/dev/null
    else
        "$pybabel" init -i labeld/locale/labeld.pot -d labeld/locale -D labeld -l "$lang" >/dev/null
    fi
done
"$pybabel" compile -d labeld/locale -D labeld --statistics
