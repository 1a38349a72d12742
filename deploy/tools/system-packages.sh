#!/usr/bin/env bash
# What `make test` (and `.ci/run`) need from the operating system, installed when missing.
#
#   deploy/tools/system-packages.sh [tansu|apache]
#
# Installs with apt-get when running as root, or through sudo when it asks no password;
# otherwise it names the packages and the command, and fails. Nothing is installed when
# everything is already there.
set -euo pipefail
cd "$(dirname "$0")/../.."
kafka="${1:-tansu}"

need=()
# promtool for the alert-rule tests, prometheus for the end-to-end scrape test.
command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
# The printable dossier's Unicode font (services/intake/adapters/dossier_print.py).
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf ] || need+=(fonts-dejavu-core)
if [ "$kafka" = apache ]; then
  command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null 2>&1 || need+=(maven)
fi
# The web app's browser tests (tests/e2e/test_web_*.py, through tests/web_browser_support.py)
# drive Debian's Chromium with Playwright; never `playwright install`, which downloads one.
if grep -rqs --include='*.py' "playwright" tests; then
  [ -x "${CHROMIUM:-/usr/bin/chromium}" ] || need+=(chromium)  # where tests/web_browser_support.py looks
fi

[ "${#need[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "make test needs these system packages: ${need[*]}" >&2
  echo "install them once (as root), then run make test again:" >&2
  echo "  sudo apt-get install ${need[*]}" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "make test needs ${need[*]}, and this system has no apt-get: install them with its package manager" >&2
  exit 1
fi
echo "installing system packages: ${need[*]}"
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
