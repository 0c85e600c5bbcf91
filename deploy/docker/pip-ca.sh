# Sourced by the image builds before pip runs (sh). When the optional build secret `pip_ca` holds
# a CA bundle (PEM), pip trusts it in addition to its own CA list: needed where the package index
# is reached through a TLS-intercepting proxy (docker-compose.yml: secrets.pip_ca, PIP_CA_BUNDLE).
# The combined file lives in /tmp for one RUN step and is removed by pip_ca_cleanup.
if [ -s /run/secrets/pip_ca ]; then
  PIP_CA_FILE=$(mktemp /tmp/pip-ca.XXXXXX)
  cat "$(python -c 'import pip._vendor.certifi as c; print(c.where())')" /run/secrets/pip_ca \
    > "$PIP_CA_FILE"
  export PIP_CERT="$PIP_CA_FILE"
  echo "pip: trusting the extra CA bundle of the pip_ca build secret"
fi
pip_ca_cleanup() { rm -f "${PIP_CA_FILE:-}"; }
