#!/usr/bin/env python3
"""Generate a corpus of real-world TLS certificate recipes for a Determined master.

Usage:  recipes.py OUTDIR          (Python 3.11+, `cryptography`, `openssl` 3.x CLI, `keytool`)

For every recipe id, OUTDIR/<id>/ receives:
  served.pem   what an operator puts in the master's `security.tls.cert` (the master serves it as is:
               master/internal/config/config.go ReadCertificate -> tls.LoadX509KeyPair), exactly as
               the tool/tutorial leaves it (leaf first; easy-rsa's file keeps openssl's text dump);
  key.pem      the leaf key, unencrypted, in the tool's own PEM flavour (PKCS#8 / PKCS#1 / SEC1);
  leaf.pem     the leaf alone;        root.pem  what a user pins as "the CA" (a self-signed leaf: itself);
  rekeyed/{served,key,leaf}.pem  the recipe re-run with a new leaf key (same CA when there is one);
  extra/*.pem  chain variants named in meta.json notes;    meta.json {id,title,tool,default,notes}.
OUTDIR/recipes.json lists the ids in order. Real CLIs run where installed (openssl, keytool; easy-rsa
is reproduced with `openssl ca` and easy-rsa's own extension files); other tools' shapes are rebuilt
with `cryptography` in recipe_shapes.py. Nothing secret is printed; a missing tool exits non-zero.
"""
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import recipe_shapes as S  # noqa: E402

PEM_RE = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\n?", re.S)


def need(tool):
    if shutil.which(tool) is None:
        sys.exit(f"recipes.py: required tool '{tool}' is not installed (not on PATH)")


def run(w, *argv, stdin=None):
    p = subprocess.run(argv, cwd=w, input=stdin, capture_output=True)
    if p.returncode != 0:
        sys.exit(f"recipes.py: `{argv[0]} {argv[1] if len(argv) > 1 else ''}` failed "
                 f"(exit {p.returncode}): {p.stderr.decode(errors='replace')[-600:]}")
    return p.stdout


def certs_only(data):
    """The PEM certificate blocks of a file, normalised to end with a newline each."""
    return b"".join(m.rstrip(b"\n") + b"\n" for m in PEM_RE.findall(data))


def rd(w, f):
    return (Path(w) / f).read_bytes()


def wr(w, f, text):
    (Path(w) / f).write_text(text)
    return f


# ---------------------------------------------------------------- openssl one-liners (self-signed)
def ossl_selfsigned(*args, cfg=None):
    def gen(w, tag):
        extra = ["-config", wr(w, f"{tag}.cnf", cfg)] if cfg else []
        run(w, "openssl", "req", "-x509", *args, *extra, "-keyout", f"{tag}.key", "-out", f"{tag}.crt")
        return rd(w, f"{tag}.crt"), rd(w, f"{tag}.key")

    def recipe(w):
        (c1, k1), (c2, k2) = gen(w, "a"), gen(w, "b")
        return ({"served": c1, "key": k1, "leaf": c1, "root": c1},
                {"served": c2, "key": k2, "leaf": c2}, {})
    return recipe


EC_NEW = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
RSA_NEW = ["-newkey", "rsa:2048"]
SUBJ = ["-nodes", "-days", "365", "-subj", "/CN=localhost"]

LE_LOCALHOST_CNF = """[dn]
CN=localhost
[req]
distinguished_name = dn
[EXT]
subjectAltName=DNS:localhost
keyUsage=digitalSignature
extendedKeyUsage=serverAuth
"""

# .circleci/scripts/generate_cert.sh in determined-ai/determined, DNS.1 changed from
# determined-master-ci to localhost.
UPSTREAM_CI_CNF = """[req]
default_bits  = 2048
distinguished_name = req_distinguished_name
req_extensions = req_ext
x509_extensions = v3_req
prompt = no
[req_distinguished_name]
countryName = XX
stateOrProvinceName = N/A
localityName = N/A
organizationName = N/A
commonName = N/A
[req_ext]
subjectAltName = @alt_names
[v3_req]
subjectAltName = @alt_names
[alt_names]
DNS.1 = localhost
"""


# ---------------------------------------------------------------- openssl "own CA" tutorials
TUTORIAL_EXT = """authorityKeyIdentifier=keyid,issuer
basicConstraints=CA:FALSE
keyUsage = digitalSignature, nonRepudiation, keyEncipherment, dataEncipherment
extendedKeyUsage = serverAuth
subjectAltName = @alt_names
[alt_names]
DNS.1 = localhost
IP.1 = 127.0.0.1
"""


def ossl_ca(extfile):
    def recipe(w):
        run(w, "openssl", "req", "-x509", "-new", "-nodes", "-newkey", "rsa:2048", "-keyout", "ca.key",
            "-out", "ca.crt", "-days", "3650", "-subj", "/CN=Dev Local CA")
        ext = ["-extfile", wr(w, "v3.ext", extfile)] if extfile else []

        def leaf(tag):
            run(w, "openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{tag}.key",
                "-out", f"{tag}.csr", "-subj", "/CN=localhost")
            run(w, "openssl", "x509", "-req", "-in", f"{tag}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{tag}.crt", "-days", "825", "-sha256", *ext)
            c = rd(w, f"{tag}.crt")
            return {"served": c, "key": rd(w, f"{tag}.key"), "leaf": c}
        a, b = leaf("a"), leaf("b")
        a["root"] = rd(w, "ca.crt")
        return a, b, {"extra/chain-with-root.pem": a["leaf"] + a["root"]}
    return recipe


# harness/tests/common/untrusted-root/{gen.sh,ca.cnf,server.cnf} in determined-ai/determined
# (badssl-derived); server CN/SAN changed from 127.0.0.1 to localhost (+ IP 127.0.0.1 kept).
UNTRUSTED_CA_CNF = """[ req ]
default_bits = 4096
default_md = sha256
distinguished_name = req_distinguished_name
encrypt_key = no
prompt = no
x509_extensions = req_v3_ca
[ req_distinguished_name ]
countryName = US
stateOrProvinceName = California
localityName = San Francisco
organizationName = Determined AI
commonName = Determined AI Test Certificate Authority
[ req_v3_ca ]
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always,issuer:always
basicConstraints = CA:true
keyUsage = cRLSign, keyCertSign
"""
UNTRUSTED_SERVER_CNF = """[ req ]
default_bits = 2048
distinguished_name = req_distinguished_name
encrypt_key = no
prompt = no
req_extensions = req_v3_usr
[ req_distinguished_name ]
countryName = US
stateOrProvinceName = California
localityName = San Francisco
organizationName = Determined AI Test Certificate Authority
commonName = localhost
[ req_v3_usr ]
basicConstraints = CA:FALSE
subjectAltName = @alt_names
[ alt_names ]
DNS.1 = localhost
IP.1 = 127.0.0.1
"""


def upstream_tests(w):
    ca_key = run(w, "openssl", "genrsa", "2048")
    run(w, "openssl", "req", "-x509", "-new", "-nodes", "-sha512", "-days", "3650", "-config",
        wr(w, "ca.cnf", UNTRUSTED_CA_CNF), "-key", "/dev/stdin", "-out", "ca.crt", stdin=ca_key)
    wr(w, "server.cnf", UNTRUSTED_SERVER_CNF)

    def leaf(tag):
        run(w, "openssl", "genrsa", "-out", f"{tag}.key", "2048")
        run(w, "openssl", "req", "-new", "-config", "server.cnf", "-key", f"{tag}.key", "-out", f"{tag}.csr")
        run(w, "openssl", "x509", "-req", "-days", "3650", "-sha512", "-CAcreateserial", "-extensions",
            "req_v3_usr", "-extfile", "server.cnf", "-in", f"{tag}.csr", "-CA", "ca.crt", "-CAkey",
            "/dev/stdin", "-out", f"{tag}.crt", stdin=ca_key)
        c = rd(w, f"{tag}.crt")
        return {"served": c + rd(w, "ca.crt"), "key": rd(w, f"{tag}.key"), "leaf": c}
    a, b = leaf("a"), leaf("b")
    a["root"] = rd(w, "ca.crt")
    return a, b, {}


# ---------------------------------------------------------------- easy-rsa 3 (via openssl ca)
# Sections mirror easyrsa3/openssl-easyrsa.cnf and x509-types/{COMMON,ca,server} of OpenVPN/easy-rsa.
EASYRSA_CNF = """[ ca ]
default_ca = CA_default
[ CA_default ]
dir = {pki}
database = $dir/index.txt
new_certs_dir = $dir/certs_by_serial
certificate = $dir/ca.crt
serial = $dir/serial
private_key = $dir/private/ca.key
x509_extensions = basic_exts
default_days = 825
default_md = sha256
preserve = no
unique_subject = no
policy = policy_anything
[ policy_anything ]
countryName = optional
stateOrProvinceName = optional
localityName = optional
organizationName = optional
organizationalUnitName = optional
commonName = supplied
emailAddress = optional
[ req ]
default_bits = 2048
default_md = sha256
distinguished_name = cn_only
[ cn_only ]
commonName = Common Name
[ basic_exts ]
basicConstraints = CA:FALSE
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer:always
[ x509_type_ca ]
basicConstraints = critical,CA:TRUE
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always,issuer:always
keyUsage = cRLSign, keyCertSign
"""
EASYRSA_SERVER = """basicConstraints = CA:FALSE
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer:always
extendedKeyUsage = serverAuth
keyUsage = digitalSignature,keyEncipherment
"""


def easyrsa(with_san):
    def recipe(w):
        pki = Path(w) / "pki"
        for d in ("private", "certs_by_serial", "reqs", "issued"):
            (pki / d).mkdir(parents=True)
        (pki / "index.txt").write_text("")
        cnf = wr(w, "easyrsa.cnf", EASYRSA_CNF.replace("{pki}", str(pki)))
        ext = wr(w, "server.ext", EASYRSA_SERVER + ("subjectAltName = DNS:localhost\n" if with_san else ""))
        genkey = ("openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out")
        run(w, *genkey, "pki/private/ca.key")
        run(w, "openssl", "req", "-utf8", "-new", "-key", "pki/private/ca.key", "-out", "pki/ca.crt", "-x509",
            "-days", "3650", "-config", cnf, "-extensions", "x509_type_ca", "-subj", "/CN=Easy-RSA CA")

        def leaf(tag):
            run(w, *genkey, f"pki/private/{tag}.key")
            run(w, "openssl", "req", "-utf8", "-new", "-key", f"pki/private/{tag}.key", "-out",
                f"pki/reqs/{tag}.req", "-config", cnf, "-subj", "/CN=localhost")
            (pki / "serial").write_text(secrets.token_hex(16).upper() + "\n")  # EASYRSA_RAND_SN
            run(w, "openssl", "ca", "-utf8", "-batch", "-config", cnf, "-in", f"pki/reqs/{tag}.req",
                "-out", f"pki/issued/{tag}.crt", "-extfile", ext, "-days", "825")
            served = rd(w, f"pki/issued/{tag}.crt")  # openssl ca without -notext: text dump + PEM
            return {"served": served, "key": rd(w, f"pki/private/{tag}.key"), "leaf": certs_only(served)}
        a, b = leaf("server"), leaf("server2")
        a["root"] = rd(w, "pki/ca.crt")
        return a, b, {}
    return recipe


# ---------------------------------------------------------------- keytool
def keytool(w):
    def gen(tag):
        run(w, "keytool", "-genkeypair", "-alias", "master", "-keyalg", "EC", "-dname", "CN=localhost",
            "-ext", "SAN=dns:localhost,ip:127.0.0.1", "-validity", "365", "-keystore", f"{tag}.p12",
            "-storetype", "PKCS12", "-storepass", "changeit", "-keypass", "changeit")
        c = run(w, "keytool", "-exportcert", "-rfc", "-alias", "master", "-keystore", f"{tag}.p12",
                "-storepass", "changeit")
        bags = run(w, "openssl", "pkcs12", "-in", f"{tag}.p12", "-nodes", "-nocerts", "-passin", "pass:changeit")
        return c, run(w, "openssl", "pkey", stdin=bags)
    (c1, k1), (c2, k2) = gen("a"), gen("b")
    return {"served": c1, "key": k1, "leaf": c1, "root": c1}, {"served": c2, "key": k2, "leaf": c2}, {}


def shaped(fn):
    return lambda w: fn()


# id, title, tool, default, notes, generator
RECIPES = [
    ("openssl-req-x509-ec", "openssl req -x509 -newkey ec (P-256) with -addext subjectAltName", "openssl", True,
     "OpenSSL 3 default v3_ca: BC critical CA:TRUE, SKI, AKI; SAN DNS:localhost only; PKCS#8 key.",
     ossl_selfsigned(*EC_NEW, *SUBJ, "-addext", "subjectAltName=DNS:localhost")),
    ("openssl-req-x509-rsa", "openssl req -x509 -newkey rsa:2048 with -addext subjectAltName", "openssl", True,
     "As openssl-req-x509-ec with RSA-2048.", ossl_selfsigned(*RSA_NEW, *SUBJ, "-addext", "subjectAltName=DNS:localhost")),
    ("openssl-req-x509-nosan", "openssl req -x509 -newkey rsa:2048 -subj /CN=localhost (no SAN)", "openssl", True,
     "Classic one-liner: CN only, CA:TRUE self-signed. Clients that ignore CN must reject it.",
     ossl_selfsigned(*RSA_NEW, *SUBJ)),
    ("openssl-req-x509-cafalse", "openssl req -x509 -addext basicConstraints=critical,CA:FALSE + SAN", "openssl", False,
     "Self-signed end-entity (CA:FALSE) with SAN DNS:localhost, IP:127.0.0.1; EC P-256.",
     ossl_selfsigned(*EC_NEW, *SUBJ, "-addext", "basicConstraints=critical,CA:FALSE",
                     "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1")),
    ("openssl-le-localhost", "letsencrypt.org 'certificates for localhost' openssl recipe", "openssl", True,
     "-extensions EXT: SAN DNS:localhost, KU digitalSignature, EKU serverAuth, no basicConstraints; RSA-2048, 30 d.",
     ossl_selfsigned("-newkey", "rsa:2048", "-nodes", "-sha256", "-subj", "/CN=localhost", "-extensions", "EXT",
                     cfg=LE_LOCALHOST_CNF)),
    ("openssl-ca-x509req-extfile", "own CA: openssl req -x509 CA + openssl x509 -req -CA -extfile (SAN)", "openssl", True,
     "Tutorial v3.ext: AKI keyid,issuer; CA:FALSE; KU dS,nR,kE,dE; EKU serverAuth; SAN DNS:localhost,IP:127.0.0.1. "
     "served = leaf only (as tutorials); extra/chain-with-root.pem = leaf + CA (what Determined's docs ask for).",
     ossl_ca(TUTORIAL_EXT)),
    ("openssl-ca-x509req-noextfile", "own CA: openssl x509 -req -CA without -extfile", "openssl", True,
     "OpenSSL 3.0 writes a v1 leaf (no extensions, no SAN). served = leaf only; extra/chain-with-root.pem.",
     ossl_ca(None)),
    ("mkcert", "mkcert localhost 127.0.0.1 ::1", "mkcert (shape)", True,
     "Root 'mkcert user@host' RSA-3072 pathlen 0; leaf RSA-2048 without CN. served = leaf only (mkcert's file).",
     shaped(S.shape_mkcert)),
    ("cert-manager-selfsigned", "cert-manager SelfSigned issuer, Certificate with dnsNames only", "cert-manager (shape)",
     True, "Empty subject and issuer, SAN critical, CA:FALSE critical, no SKI/AKI; tls.key PKCS#1; ca.crt = tls.crt.",
     shaped(S.shape_cert_manager_selfsigned)),
    ("cert-manager-ca-issuer", "cert-manager CA issuer (self-signed isCA Certificate + leaf)", "cert-manager (shape)",
     True, "tls.crt = leaf only in current cert-manager (the self-signed CA goes to ca.crt); "
     "extra/chain-with-root.pem = leaf + CA. Leaf has empty subject, critical SAN.",
     shaped(S.shape_cert_manager_ca_issuer)),
    ("step-ca", "step ca init + step ca certificate localhost", "step-ca (shape)", True,
     "P-256 root (pathlen 1) + intermediate (pathlen 0) + 24 h leaf; served = leaf + intermediate; key SEC1.",
     shaped(S.shape_step_ca)),
    ("vault-pki", "HashiCorp Vault PKI: root, intermediate with name constraints, role-issued leaf", "vault (shape)",
     False, "Intermediate: pathlen 0, critical NameConstraints permitted DNS 'localhost'. Leaf 24 h with IP SAN. "
     "served = certificate + issuing_ca; keys PKCS#1.", shaped(S.shape_vault_pki)),
    ("letsencrypt-shaped", "Let's Encrypt fullchain.pem (ECDSA leaf + E5-like + X2-like, cross-signed by X1-like)",
     "certbot/Let's Encrypt (shape)", True,
     "served = fullchain (leaf + E5-like). root.pem = X1-like RSA root: reachable only through the cross-signed X2 in "
     "extra/cross.pem (leaf+E5+X2-by-X1); with served.pem alone an X1 pin cannot build a path. "
     "extra/root-x2.pem = the self-signed X2-like root (pin that for the plain fullchain).",
     shaped(S.shape_letsencrypt)),
    ("easy-rsa", "easy-rsa 3 build-ca + --san=DNS:localhost build-server-full server nopass", "easy-rsa via openssl ca",
     False, "CA: BC critical, AKI keyid+issuer+serial, KU cRLSign,keyCertSign. Server: EKU serverAuth, KU dS,kE, "
     "AKI keyid+issuer:always. served.pem is openssl ca's output: text dump before the PEM block.", easyrsa(True)),
    ("easy-rsa-nosan", "easy-rsa 3 build-server-full server nopass (tool default, no SAN)", "easy-rsa via openssl ca",
     True, "Same as easy-rsa without --san: CN=localhost only.", easyrsa(False)),
    ("keytool-genkeypair", "keytool -genkeypair -keyalg EC -ext SAN=dns:localhost,ip:127.0.0.1 (PKCS12)", "keytool",
     True, "JDK self-signed: SKI + SAN only (no basicConstraints). Cert via keytool -exportcert -rfc, key via "
     "openssl pkcs12 -nodes | openssl pkey (PKCS#8).", keytool),
    ("enterprise-ca", "Enterprise (AD CS-style) root + issuing CA with CRL/AIA/OCSP/policies", "AD CS (shape)", False,
     "Every CRL/AIA/OCSP URL is http://127.0.0.1:9/... (unreachable): online revocation checks fail or time out. "
     "served = leaf + issuing CA.", shaped(S.shape_enterprise_ca)),
    ("dotnet-dev-certs", "dotnet dev-certs https --export-path --format Pem", "dotnet dev-certs (shape)", True,
     "ASP.NET Core dev cert (.NET 8 shape): all extensions critical except the 0x02 marker.",
     shaped(S.shape_dotnet_dev_certs)),
    ("go-generate-cert", "go run crypto/tls/generate_cert.go --host localhost,127.0.0.1 --ecdsa-curve P256",
     "generate_cert.go (shape)", True, "O=Acme Co, no CN, CA:FALSE self-signed, no SKI.",
     shaped(S.shape_go_generate_cert)),
    ("upstream-ci", "determined-ai/determined .circleci/scripts/generate_cert.sh", "openssl", False,
     "Upstream CI's master cert: RSA-2048, subject C=XX/ST,L,O,CN=N/A, only extension SAN (upstream: "
     "DNS:determined-master-ci, here DNS:localhost); OpenSSL 3.0 adds an SKI, no AKI, no basicConstraints.",
     ossl_selfsigned("-new", "-sha256", "-newkey", "rsa:2048", "-nodes", "-days", "365", cfg=UPSTREAM_CI_CNF)),
    ("upstream-tests-untrusted-root", "determined-ai/determined harness/tests/common/untrusted-root/gen.sh",
     "openssl", False, "Upstream's harness TLS test chain: sha512, CA AKI keyid:always,issuer:always, CA:true not "
     "critical; leaf CA:FALSE + SAN; served = leaf + CA (gen.sh appends the CA). CN/SAN localhost (+IP).",
     upstream_tests),
]


def main():
    if len(sys.argv) != 2 or sys.argv[1].startswith("-"):
        sys.exit("usage: recipes.py OUTDIR")
    for tool in ("openssl", "keytool"):
        need(tool)
    v = run(".", "openssl", "version").decode()
    if not v.startswith("OpenSSL 3."):
        sys.exit(f"recipes.py: openssl 3.x required, found: {v.strip()}")
    outdir = Path(sys.argv[1])
    outdir.mkdir(parents=True, exist_ok=True)
    ids = []
    for rid, title, tool, default, notes, gen in RECIPES:
        d = outdir / rid
        if d.exists():
            shutil.rmtree(d)
        (d / "rekeyed").mkdir(parents=True)
        with tempfile.TemporaryDirectory(prefix="recipe-") as w:
            main_, rekeyed, extras = gen(w)
        for k in ("served", "key", "leaf", "root"):
            (d / f"{k}.pem").write_bytes(main_[k])
        for k in ("served", "key", "leaf"):
            (d / "rekeyed" / f"{k}.pem").write_bytes(rekeyed[k])
        for rel, data in extras.items():
            (d / rel).parent.mkdir(parents=True, exist_ok=True)
            (d / rel).write_bytes(data)
        for f in d.rglob("key.pem"):
            os.chmod(f, 0o600)
        meta = {"id": rid, "title": title, "tool": tool, "default": default, "notes": notes}
        (d / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        ids.append(rid)
    (outdir / "recipes.json").write_text(json.dumps(ids, indent=2) + "\n")
    print(f"wrote {len(ids)} recipes to {outdir}")


if __name__ == "__main__":
    main()
