#!/usr/bin/env python3
"""Oracle: would Determined's Python client (CLI / SDK) trust this master?

Usage:
  python_client.py --url https://HOST:PORT [--cert-file FILE | --noverify] [--cert-name NAME]
                   [--tofu STOREDIR] [--py313]

Prints ONE JSON line {"verdict":"accept"|"reject","stage":"first"|"after-tofu","stored":PATH|null,
"error":TEXT,"kind":"ok"|"ssl"|"connect"|"timeout"|"tofu-fetch"|"cert-file"} and exits 0 for either
verdict (2 = usage error, 1 = unexpected crash). Any HTTP status counts as accept (TLS succeeded).
"stored" is the file written by this run's trust-on-first-use step (null if none was written).

Emulated (from determined-ai/determined; nothing is imported from it):
* harness/determined/common/api/certs.py  Cert: with a cert PEM, `bundle` is a temp file holding
  certifi's CA bundle + "\\n" + the PEM (so public roots stay trusted too); noverify -> False;
  nothing -> None (requests then uses certifi). default_load: explicit args win; the CLI otherwise
  reads DET_MASTER_CERT_FILE / DET_MASTER_CERT_NAME, else the per-URL PEM in ~/.config/determined/
  certs.json (CertStore).  Here --cert-file/--noverify/--cert-name are those values, and
  STOREDIR/stored.pem plays the CertStore entry for this URL.
* harness/determined/common/api/_session.py  _make_requests_session: verify=bundle (None -> True)
  and an HTTPS adapter whose cert_verify() sets the urllib3 pool's `assert_hostname` to cert_name.
  The SNI stays the URL host; only the name matched changes (urllib3 then matches it itself,
  never against the CN). The CLI's unauth session uses max_retries=0.
* harness/determined/cli/cli.py main + cli/version.py: GET <master>/info; on
  requests.exceptions.SSLError the CLI connects with pyOpenSSL (TLSv1_2_METHOD, SNI = URL host,
  no verification), takes get_peer_cert_chain() as the server sent it, shows the leaf's SHA-256
  fingerprint, and on "yes" stores "".join(PEMs) in the CertStore and retries /info once with
  Cert(cert_pem=that, name=<same cert_name>). This happens even when DET_MASTER_CERT_FILE was set.
  pyOpenSSL is used when importable; otherwise `openssl s_client -tls1_2 -servername HOST
  -showcerts` (same SSL_get_peer_cert_chain list) fetches the chain.
The oracle runs with REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE and proxy variables removed: requests lets
REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override a Session's `verify` (bundle AND noverify), so upstream
in such an environment would ignore its own certificate settings; the oracle models a clean shell.
--py313 emulates urllib3 2.x (e.g. the 2.7.0 installed here) on Python >= 3.13: it adds VERIFY_X509_PARTIAL_CHAIN and
VERIFY_X509_STRICT to its SSL context (so a pinned non-root certificate can be an anchor).
Without it this runs as Python <= 3.12 does: only a self-signed certificate ends a chain.
"""
import argparse
import json
import os
import re
import ssl
import subprocess
import sys
import tempfile
from urllib import parse

import certifi
import requests
from requests import adapters

TIMEOUT = 10


class NameOverrideAdapter(adapters.HTTPAdapter):
    """Same effect as upstream's _HTTPSAdapter: after requests configures the pool for `verify`,
    set the pool's assert_hostname so urllib3 checks the certificate against that name."""

    def __init__(self, server_hostname, py313=False, **kw):
        self._name = server_hostname
        self._py313 = py313
        super().__init__(**kw)

    def init_poolmanager(self, *a, **kw):
        if self._py313:
            from urllib3.util.ssl_ import create_urllib3_context
            kw["ssl_context"] = create_urllib3_context(
                verify_flags=ssl.VERIFY_X509_PARTIAL_CHAIN | ssl.VERIFY_X509_STRICT)
        super().init_poolmanager(*a, **kw)

    def cert_verify(self, conn, url, verify, cert):
        super().cert_verify(conn, url, verify, cert)
        conn.assert_hostname = self._name


def make_bundle(cert_pem, tmp):
    """certs.Cert.bundle for a PEM: certifi's bundle, a newline, then the PEM."""
    path = os.path.join(tmp, f"det-master-cert-{len(os.listdir(tmp))}")
    with open(path, "wb") as out, open(certifi.where(), "rb") as base:
        out.write(base.read())
        out.write(b"\n")
        out.write(cert_pem.encode("utf8"))
    return path


def get_info(url, bundle, name, py313):
    """Returns (kind, error) with kind "ok" when a response (any status) came back."""
    s = requests.Session()
    s.mount("https://", NameOverrideAdapter(name, py313=py313, max_retries=0))
    s.verify = True if bundle is None else bundle
    try:
        s.get(url.rstrip("/") + "/info", timeout=TIMEOUT)
        return "ok", ""
    except requests.exceptions.SSLError as e:
        return "ssl", short(e)
    except requests.exceptions.Timeout as e:
        return "timeout", short(e)
    except requests.exceptions.RequestException as e:
        return "connect", short(e)
    finally:
        s.close()


def short(e):
    text = str(e)
    m = re.search(r"\[SSL[^\]]*\][^()'\"]*|CertificateError\([^)]*\)|hostname '[^']*' doesn't match[^\"')]*", text)
    text = m.group(0) if m else text
    return re.sub(r"\s+", " ", text).strip()[:300]


def fetch_chain(host, port):
    """What cli.py gets from pyOpenSSL's get_peer_cert_chain(): PEM strings, as sent."""
    try:
        from OpenSSL import SSL, crypto  # upstream's exact path, when available
        import socket
        conn = SSL.Connection(SSL.Context(SSL.TLSv1_2_METHOD), socket.socket())
        conn.set_tlsext_host_name(host.encode())
        conn.connect((host, port))
        conn.do_handshake()
        chain = conn.get_peer_cert_chain() or []
        conn.close()
        return [crypto.dump_certificate(crypto.FILETYPE_PEM, c).decode() for c in chain]
    except ImportError:
        pass
    p = subprocess.run(["openssl", "s_client", "-connect", f"{host}:{port}", "-servername", host,
                        "-tls1_2", "-showcerts"], stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=TIMEOUT, text=True)
    if p.returncode != 0:
        raise RuntimeError("TLS 1.2 handshake failed: " + (p.stderr.strip().splitlines() or ["?"])[-1][:200])
    blocks = re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", p.stdout, re.S)
    # Re-encode the way OpenSSL's PEM writer (pyOpenSSL dump_certificate) does.
    return [ssl.DER_cert_to_PEM_cert(ssl.PEM_cert_to_DER_cert(b)) for b in blocks]


ENV_DROP = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


def main():
    for k in ENV_DROP:
        os.environ.pop(k, None)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--cert-file")
    g.add_argument("--noverify", action="store_true")
    ap.add_argument("--cert-name")
    ap.add_argument("--tofu", metavar="STOREDIR")
    ap.add_argument("--py313", action="store_true")
    a = ap.parse_args()
    u = parse.urlparse(a.url)
    if u.scheme != "https" or not u.hostname or not u.port:
        ap.error("--url must be https://HOST:PORT")
    name = a.cert_name or None  # Cert(): "" means no name
    res = {"verdict": "reject", "stage": "first", "stored": None, "error": "", "kind": ""}

    def done(kind, err):
        res.update(kind=kind, error=err, verdict="accept" if kind == "ok" else "reject")
        print(json.dumps(res))
        sys.exit(0)

    with tempfile.TemporaryDirectory(prefix="det-oracle-") as tmp:
        cert_pem = None
        if a.cert_file:
            try:
                with open(a.cert_file, "r") as f:
                    cert_pem = f.read()
            except OSError as e:
                done("cert-file", f"cannot read cert file: {e.strerror}")
        elif a.tofu and not a.noverify:
            stored = os.path.join(a.tofu, "stored.pem")
            if os.path.exists(stored):  # CertStore.get_cert(url) from an earlier "yes"
                with open(stored) as f:
                    cert_pem = f.read()
        bundle = False if a.noverify else (make_bundle(cert_pem, tmp) if cert_pem is not None else None)
        kind, err = get_info(a.url, bundle, name, a.py313)
        if kind != "ssl" or not a.tofu:
            done(kind, err)
        # Trust on first use (cli.py): fetch the presented chain, answer "yes", store, retry.
        res["stage"] = "after-tofu"
        try:
            pems = fetch_chain(u.hostname, u.port)
        except Exception as e:  # noqa: BLE001 - upstream dies here too
            done("tofu-fetch", f"first: {err}; could not get the master's certificate: {e}")
        if not pems:
            done("tofu-fetch", f"first: {err}; master presented no certificate")
        joined = "".join(pems)
        os.makedirs(a.tofu, mode=0o700, exist_ok=True)
        stored = os.path.join(a.tofu, "stored.pem")
        with open(stored, "w") as f:
            f.write(joined)
        res["stored"] = stored
        kind2, err2 = get_info(a.url, make_bundle(joined, tmp), name, a.py313)
        done(kind2, err2 if kind2 == "ok" else f"{err2} (first: {err})")


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except Exception as e:  # noqa: BLE001
        print(f"python_client.py: unexpected error: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
