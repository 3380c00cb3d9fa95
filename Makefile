# Two commands (README): `make run` installs and starts the dashboard; `make test` installs and
# runs every test. Both create ./.venv with Python 3.11 on first use.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install browser postgres fonts pacs oidc nginx clean-venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

# Debian's Chromium for the end-to-end tests (Playwright uses it; it downloads no browser).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# Debian's PostgreSQL server for the case store's tests (tests/store start their own server with initdb + pg_ctl;
# without the binaries they fail rather than skip).
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "installing Debian postgresql for the case store's tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

# Debian's fonts for the case PDF: DejaVu Sans Condensed (fonts-dejavu-extra; every European script), Droid Sans Fallback
# (Chinese, Japanese) and NanumGothic (fonts-nanum; Korean); without them the PDF prints Latin-1 only, other characters
# as "?" (tests/export/test_pdf.py checks both).
fonts:
	@{ test -f /usr/share/fonts/truetype/dejavu/DejaVuSansCondensed.ttf && \
	   test -f /usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf && \
	   test -f /usr/share/fonts/truetype/nanum/NanumGothic.ttf; } || { \
	  echo "installing Debian fonts-dejavu-extra, fonts-droid-fallback and fonts-nanum for the case PDF"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-dejavu-extra fonts-droid-fallback fonts-nanum >/dev/null; }

# Debian's Orthanc with its DICOMweb plugin: the PACS the imaging tests search and retrieve from (tests start their own
# Orthanc on a free loopback port; the system service the package starts is stopped).
pacs:
	@test -f /usr/share/orthanc/plugins/libOrthancDicomWeb.so || { \
	  echo "installing Debian orthanc and orthanc-dicomweb for the PACS tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq orthanc orthanc-dicomweb >/dev/null; \
	  service orthanc stop >/dev/null 2>&1 || true; }

# Debian's nginx for the deployment tests (tests/deploy run their own nginx on free loopback ports in front of two app
# replicas: deploy/nginx/watchwait.conf); the system service the package may start on port 80 is stopped.
nginx:
	@test -x /usr/sbin/nginx || { \
	  echo "installing Debian nginx for the deployment tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; \
	  service nginx stop >/dev/null 2>&1 || true; }

# The sign-in tests' OpenID Connect provider (tests/oidc/provider: the npm package oidc-provider, pinned by its
# package-lock.json) on Debian's Node.js; npm ci when its node_modules is missing.
oidc:
	@command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { \
	  echo "installing Debian nodejs and npm for the sign-in tests' OpenID Connect provider"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
	@test -d tests/oidc/provider/node_modules/oidc-provider || { \
	  echo "installing the sign-in tests' OpenID Connect provider (npm ci in tests/oidc/provider)"; \
	  cd tests/oidc/provider && npm ci --no-audit --no-fund --loglevel=error; }

# components/serve.py serves app.py with anti-framing and content-type headers; loopback only, no usage stats.
run: $(STAMP)
	$(BIN)/streamlit run components/serve.py --server.address 127.0.0.1 --browser.gatherUsageStats false

test: $(STAMP) browser postgres fonts pacs oidc nginx
	$(BIN)/lint-imports --no-cache
	$(BIN)/deptry .
	$(BIN)/python -m pytest

clean-venv:
	rm -rf $(VENV)
