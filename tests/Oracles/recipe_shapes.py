"""Certificate shapes of tools that are not installed here, rebuilt with `cryptography`.

Helper module of recipes.py (see there for the output layout). Each `shape_*` function returns
(main, rekeyed, extras) where main/rekeyed are dicts with the PEM bytes "served", "key", "leaf"
("root" in main only) and extras maps a relative path to bytes. Every shape copies the extension
set (criticality, key identifiers, key type, key file format) that the named tool writes; the
sources read for each are named in the function's docstring. Host name is always `localhost`.
URLs that real CAs embed (CRL, AIA, OCSP) are replaced by http://127.0.0.1:9/... (unreachable).
Validity starts at now-1h (tools start at now/now-30s/now-1min) to be safe against clock skew.
"""
import datetime as _dt
import hashlib
import ipaddress
import secrets

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID as EKU, NameOID as N

NOW = _dt.datetime.now(_dt.timezone.utc)
NB = NOW - _dt.timedelta(hours=1)
DEAD = "http://127.0.0.1:9"  # discard port: nothing listens, fetches fail fast


def days(n):
    return _dt.timedelta(days=n)


def rsa_key(bits=2048):
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def ec_key(curve=ec.SECP256R1):
    return ec.generate_private_key(curve())


def name(*pairs):
    return x509.Name([x509.NameAttribute(oid, v) for oid, v in pairs])


def key_pem(key, fmt="pkcs8"):
    f = serialization.PrivateFormat.PKCS8 if fmt == "pkcs8" else serialization.PrivateFormat.TraditionalOpenSSL
    return key.private_bytes(serialization.Encoding.PEM, f, serialization.NoEncryption())


def pem(*certs):
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def ku(*flags, **_):
    names = ["digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
             "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"]
    return x509.KeyUsage(**{n: n in flags for n in names})


def bc(ca, pathlen=None):
    return x509.BasicConstraints(ca=ca, path_length=pathlen)


def san(dns=(), ips=()):
    return x509.SubjectAlternativeName([x509.DNSName(d) for d in dns] +
                                       [x509.IPAddress(ipaddress.ip_address(i)) for i in ips])


def ski(pub):  # RFC 5280 method 1 (what Go, OpenSSL and step write)
    return x509.SubjectKeyIdentifier.from_public_key(pub)


def ski_spki(pub):  # Vault: SHA-1 over the whole SubjectPublicKeyInfo DER
    der = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return x509.SubjectKeyIdentifier(hashlib.sha1(der).digest())


def aki(issuer_cert):
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
        issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value)


def aki_raw(ident):
    return x509.AuthorityKeyIdentifier(ident.digest, None, None)


def aia(ca_issuers=None, ocsp=None):
    d = [x509.AccessDescription(x509.AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp))] if ocsp else []
    if ca_issuers:
        d.append(x509.AccessDescription(x509.AuthorityInformationAccessOID.CA_ISSUERS,
                                        x509.UniformResourceIdentifier(ca_issuers)))
    return x509.AuthorityInformationAccess(d)


def crldp(url):
    return x509.CRLDistributionPoints([x509.DistributionPoint([x509.UniformResourceIdentifier(url)], None, None, None)])


def policies(*oids, cps=None):
    return x509.CertificatePolicies([x509.PolicyInformation(x509.ObjectIdentifier(o), [cps] if cps else None)
                                     for o in oids])


def raw_ext(oid, der):
    return x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), der)


def bmp(s):  # DER BMPString
    b = s.encode("utf-16-be")
    return bytes([0x1E, len(b)]) + b


def make(subject, pub, signer, issuer=None, life=days(365), exts=(), nb=NB, algo=None):
    """exts: sequence of (extension, critical). issuer: Name (None = self-issued)."""
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer or subject).public_key(pub)
         .serial_number(int.from_bytes(secrets.token_bytes(16), "big") >> 1).not_valid_before(nb)
         .not_valid_after(nb + life))
    for e, crit in exts:
        b = b.add_extension(e, crit)
    if algo is None:
        algo = hashes.SHA384() if isinstance(signer, ec.EllipticCurvePrivateKey) and signer.curve.key_size == 384 else hashes.SHA256()
    return b.sign(signer, algo)


def out(leaf, key, chain=(), root=None, fmt="pkcs8"):
    d = {"served": pem(leaf, *chain), "key": key_pem(key, fmt), "leaf": pem(leaf)}
    if root is not None:
        d["root"] = pem(root)
    return d


def selfsigned_pair(build):
    """build() -> (cert, key, fmt). Returns (main, rekeyed) for a self-signed leaf recipe."""
    c1, k1, f = build()
    c2, k2, _ = build()
    return out(c1, k1, root=c1, fmt=f), out(c2, k2, fmt=f), {}


# --------------------------------------------------------------------------------------------
def shape_mkcert():
    """FiloSottile/mkcert cert.go (newCA, makeCert): root RSA-3072, O/OU/CN, SKI, KU certSign
    (critical), BC CA pathlen:0 (critical), 10 y, no AKI; leaf RSA-2048 (PKCS#8), subject O+OU only,
    KU digitalSignature|keyEncipherment (critical), EKU serverAuth, AKI, SAN; 2 y 3 m.
    `mkcert localhost 127.0.0.1 ::1` writes the leaf alone to localhost+2.pem."""
    who = "user@host"
    rk = rsa_key(3072)
    rn = name((N.ORGANIZATION_NAME, "mkcert development CA"), (N.ORGANIZATIONAL_UNIT_NAME, who),
              (N.COMMON_NAME, "mkcert " + who))
    root = make(rn, rk.public_key(), rk, life=days(3650),
                exts=[(ku("key_cert_sign"), True), (bc(True, 0), True), (ski(rk.public_key()), False)])

    def leaf():
        k = rsa_key()
        c = make(name((N.ORGANIZATION_NAME, "mkcert development certificate"), (N.ORGANIZATIONAL_UNIT_NAME, who)),
                 k.public_key(), rk, issuer=rn, life=days(820),
                 exts=[(ku("digital_signature", "key_encipherment"), True),
                       (x509.ExtendedKeyUsage([EKU.SERVER_AUTH]), False), (aki(root), False),
                       (san(["localhost"], ["127.0.0.1", "::1"]), False)])
        return c, k
    (c1, k1), (c2, k2) = leaf(), leaf()
    return out(c1, k1, root=root), out(c2, k2), {}


def _cm_leaf(issuer_key, issuer_cert=None):
    """cert-manager Certificate with only dnsNames set: empty subject (so Go marks SAN critical),
    KU digitalSignature|keyEncipherment (critical), BC CA:FALSE (critical), RSA-2048 PKCS#1, 90 d."""
    k = rsa_key()
    exts = [(ku("digital_signature", "key_encipherment"), True), (bc(False), True)]
    if issuer_cert is not None:
        exts.append((aki(issuer_cert), False))
    exts.append((san(["localhost"]), True))
    signer = issuer_key if issuer_cert is not None else k
    c = make(x509.Name([]), k.public_key(), signer, issuer=issuer_cert.subject if issuer_cert else x509.Name([]),
             life=days(90), exts=exts)
    return c, k


def shape_cert_manager_selfsigned():
    """cert-manager pkg/util/pki (GenerateCSR, CertificateTemplateFromCSR,
    CertificateTemplateValidateAndOverrideBasicConstraints), apis DefaultKeyUsages, SelfSigned issuer:
    signs the template with its own key; ca.crt = tls.crt = the certificate."""
    return selfsigned_pair(lambda: (*_cm_leaf(None), "traditional"))


def shape_cert_manager_ca_issuer():
    """cert-manager CA issuer. CA = a `isCA: true` Certificate from a SelfSigned issuer (docs example:
    ECDSA P-256, commonName my-selfsigned-ca): KU digitalSignature|keyEncipherment|certSign (critical),
    BC CA:TRUE (critical), SKI (Go adds it for CAs), no AKI. Leaf via SignCSRTemplate +
    ParseSingleCertificateChain: tls.crt = leaf only (self-signed root goes to ca.crt only)."""
    ck = ec_key()
    ca = make(name((N.COMMON_NAME, "my-selfsigned-ca")), ck.public_key(), ck, life=days(90),
              exts=[(ku("digital_signature", "key_encipherment", "key_cert_sign"), True), (bc(True), True),
                    (ski(ck.public_key()), False)])
    (c1, k1), (c2, k2) = _cm_leaf(ck, ca), _cm_leaf(ck, ca)
    return (out(c1, k1, root=ca, fmt="traditional"), out(c2, k2, fmt="traditional"),
            {"extra/chain-with-root.pem": pem(c1, ca)})


def shape_step_ca():
    """smallstep/crypto x509util templates.go (DefaultRootTemplate pathlen 1, DefaultIntermediateTemplate
    pathlen 0, DefaultLeafTemplate: KU digitalSignature for EC keys, EKU serverAuth+clientAuth) and
    certificate.go (SKI on every cert). `step ca init` makes P-256 "<name> Root CA"/"<name> Intermediate
    CA"; `step ca certificate localhost` gives a 24 h leaf (backdated 1 min) carrying the step
    provisioner extension 1.3.6.1.4.1.37476.9000.64.1, written as leaf+intermediate; key SEC1 PEM."""
    rk, ik = ec_key(), ec_key()
    rn, inn = name((N.ORGANIZATION_NAME, "Test"), (N.COMMON_NAME, "Test Root CA")), \
        name((N.ORGANIZATION_NAME, "Test"), (N.COMMON_NAME, "Test Intermediate CA"))
    root = make(rn, rk.public_key(), rk, life=days(3650),
                exts=[(ku("key_cert_sign", "crl_sign"), True), (bc(True, 1), True), (ski(rk.public_key()), False)])
    inter = make(inn, ik.public_key(), rk, issuer=rn, life=days(3650),
                 exts=[(ku("key_cert_sign", "crl_sign"), True), (bc(True, 0), True), (ski(ik.public_key()), False),
                       (aki(root), False)])
    kid = b"jwk-key-id-0123456789"
    body = b"\x02\x01\x01" + b"\x04\x05admin" + bytes([0x04, len(kid)]) + kid  # type=JWK, name, credential id
    prov = bytes([0x30, len(body)]) + body

    def leaf():
        k = ec_key()
        c = make(name((N.COMMON_NAME, "localhost")), k.public_key(), ik, issuer=inn, life=_dt.timedelta(hours=24),
                 nb=NOW - _dt.timedelta(minutes=1),
                 exts=[(ku("digital_signature"), True),
                       (x509.ExtendedKeyUsage([EKU.SERVER_AUTH, EKU.CLIENT_AUTH]), False),
                       (ski(k.public_key()), False), (aki(inter), False), (san(["localhost"]), False),
                       (raw_ext("1.3.6.1.4.1.37476.9000.64.1", prov), False)])
        return c, k
    (c1, k1), (c2, k2) = leaf(), leaf()
    return (out(c1, k1, [inter], root, "traditional"), out(c2, k2, [inter], fmt="traditional"), {})


def shape_vault_pki():
    """hashicorp/vault sdk/helper/certutil/helpers.go (createCertificate, signCertificate): SKI =
    SHA-1 of the SPKI DER, AKI = issuer SKI (the root carries AKI = its own SKI), NotBefore now-30s,
    PermittedDNSDomains written critical. Root: BC CA:TRUE no pathlen, KU certSign|cRLSign. Intermediate
    from root/sign-intermediate max_path_length=0 permitted_dns_domains=localhost. Leaf from a role with
    defaults (KU digitalSignature|keyAgreement|keyEncipherment, EKU serverAuth+clientAuth), ttl=24h,
    ip_sans=127.0.0.1. All RSA-2048, keys PKCS#1. Served = certificate + issuing_ca."""
    rk, ik = rsa_key(), rsa_key()
    rn, inn = name((N.COMMON_NAME, "Vault Test Root CA")), name((N.COMMON_NAME, "Vault Test Intermediate Authority"))
    rs = ski_spki(rk.public_key())
    root = make(rn, rk.public_key(), rk, life=days(3650),
                exts=[(ku("key_cert_sign", "crl_sign"), True), (bc(True), True), (rs, False), (aki_raw(rs), False)])
    inter = make(inn, ik.public_key(), rk, issuer=rn, life=days(1825),
                 exts=[(ku("key_cert_sign", "crl_sign"), True), (bc(True, 0), True),
                       (ski_spki(ik.public_key()), False), (aki_raw(rs), False),
                       (x509.NameConstraints([x509.DNSName("localhost")], None), True)])

    def leaf():
        k = rsa_key()
        c = make(name((N.COMMON_NAME, "localhost")), k.public_key(), ik, issuer=inn, life=_dt.timedelta(hours=24),
                 exts=[(ku("digital_signature", "key_agreement", "key_encipherment"), True),
                       (x509.ExtendedKeyUsage([EKU.SERVER_AUTH, EKU.CLIENT_AUTH]), False),
                       (ski_spki(k.public_key()), False), (aki_raw(ski_spki(ik.public_key())), False),
                       (san(["localhost"], ["127.0.0.1"]), False)])
        return c, k
    (c1, k1), (c2, k2) = leaf(), leaf()
    return out(c1, k1, [inter], root, "traditional"), out(c2, k2, [inter], fmt="traditional"), {}


def shape_letsencrypt():
    """Let's Encrypt hierarchy (crt.sh shapes of ISRG Root X1/X2, the X2-by-X1 cross-sign and E5):
    roots KU certSign|cRLSign + BC CA (critical) + SKI; cross-sign adds AKI, AIA, CRLDP, policy;
    E5-like intermediate P-384, KU digitalSignature|certSign|cRLSign, EKU clientAuth+serverAuth,
    pathlen 0; leaf P-256 (certbot >= 2.0 default, PKCS#8 privkey.pem), KU digitalSignature,
    EKU serverAuth, BC CA:FALSE, AIA caIssuers, CRLDP, policy 2.23.140.1.2.1, 90 d (no SCTs).
    Names carry a "Test " prefix so certifi's real ISRG roots are never confused with them.
    X1-like is RSA-2048 (real: 4096) to stay fast."""
    o = (N.ORGANIZATION_NAME, "Test Internet Security Research Group")
    x1k, x2k, ek = rsa_key(), ec_key(ec.SECP384R1), ec_key(ec.SECP384R1)
    x1n, x2n = name((N.COUNTRY_NAME, "US"), o, (N.COMMON_NAME, "Test ISRG Root X1")), \
        name((N.COUNTRY_NAME, "US"), o, (N.COMMON_NAME, "Test ISRG Root X2"))
    en = name((N.COUNTRY_NAME, "US"), (N.ORGANIZATION_NAME, "Test Let's Encrypt"), (N.COMMON_NAME, "Test E5"))
    root_exts = lambda k: [(ku("key_cert_sign", "crl_sign"), True), (bc(True), True), (ski(k.public_key()), False)]
    x1 = make(x1n, x1k.public_key(), x1k, life=days(7300), exts=root_exts(x1k))
    x2 = make(x2n, x2k.public_key(), x2k, life=days(7300), exts=root_exts(x2k))
    cross = make(x2n, x2k.public_key(), x1k, issuer=x1n, life=days(1800),
                 exts=root_exts(x2k) + [(aki(x1), False), (aia(f"{DEAD}/x1.i.lencr.org/"), False),
                                        (crldp(f"{DEAD}/x1.c.lencr.org/"), False), (policies("2.23.140.1.2.1"), False)])
    e5 = make(en, ek.public_key(), x2k, issuer=x2n, life=days(1095),
              exts=[(ku("digital_signature", "key_cert_sign", "crl_sign"), True),
                    (x509.ExtendedKeyUsage([EKU.CLIENT_AUTH, EKU.SERVER_AUTH]), False), (bc(True, 0), True),
                    (ski(ek.public_key()), False), (aki(x2), False), (aia(f"{DEAD}/x2.i.lencr.org/"), False),
                    (policies("2.23.140.1.2.1"), False), (crldp(f"{DEAD}/x2.c.lencr.org/"), False)])

    def leaf():
        k = ec_key()
        c = make(name((N.COMMON_NAME, "localhost")), k.public_key(), ek, issuer=en, life=days(90),
                 exts=[(ku("digital_signature"), True), (x509.ExtendedKeyUsage([EKU.SERVER_AUTH]), False),
                       (bc(False), True), (ski(k.public_key()), False), (aki(e5), False),
                       (aia(f"{DEAD}/e5.i.lencr.org/"), False), (san(["localhost"]), False),
                       (policies("2.23.140.1.2.1"), False), (crldp(f"{DEAD}/e5.c.lencr.org/42.crl"), False)])
        return c, k
    (c1, k1), (c2, k2) = leaf(), leaf()
    return (out(c1, k1, [e5], x1), out(c2, k2, [e5]),
            {"extra/cross.pem": pem(c1, e5, cross), "extra/root-x2.pem": pem(x2)})


def shape_enterprise_ca():
    """AD CS-style two-tier PKI: offline root (KU digitalSignature|certSign|cRLSign, MS CA Version
    ext), issuing CA (pathlen 0, CRLDP + AIA caIssuers/OCSP, certificate policy with CPS, template
    name "SubCA"), "WebServer"-template leaf with CRLDP, AIA (caIssuers + OCSP), policy, MS template
    name and application-policies extensions. All URLs point to http://127.0.0.1:9/ (unreachable).
    RSA-2048; key exported from the PFX as PKCS#8. Served = leaf + issuing CA."""
    rk, ik = rsa_key(), rsa_key()
    dc = [(N.DOMAIN_COMPONENT, "com"), (N.DOMAIN_COMPONENT, "contoso")]
    rn, inn = name(*dc, (N.COMMON_NAME, "Contoso Root CA")), name(*dc, (N.COMMON_NAME, "Contoso Issuing CA 01"))
    cav = raw_ext("1.3.6.1.4.1.311.21.1", b"\x02\x01\x00")
    pol = policies("1.3.6.1.4.1.311.21.8.1.1", cps=f"{DEAD}/pki/cps.html")
    root = make(rn, rk.public_key(), rk, life=days(7300),
                exts=[(ku("digital_signature", "key_cert_sign", "crl_sign"), False), (bc(True), True),
                      (ski(rk.public_key()), False), (cav, False)])
    inter = make(inn, ik.public_key(), rk, issuer=rn, life=days(3650),
                 exts=[(raw_ext("1.3.6.1.4.1.311.20.2", bmp("SubCA")), False), (cav, False),
                       (ski(ik.public_key()), False), (pol, False),
                       (ku("digital_signature", "key_cert_sign", "crl_sign"), False), (bc(True, 0), True),
                       (aki(root), False), (crldp(f"{DEAD}/pki/Contoso%20Root%20CA.crl"), False),
                       (aia(f"{DEAD}/pki/Contoso%20Root%20CA.crt", f"{DEAD}/ocsp"), False)])

    def leaf():
        k = rsa_key()
        c = make(name((N.COMMON_NAME, "localhost")), k.public_key(), ik, issuer=inn, life=days(730),
                 exts=[(raw_ext("1.3.6.1.4.1.311.20.2", bmp("WebServer")), False),
                       (x509.ExtendedKeyUsage([EKU.SERVER_AUTH]), False),
                       (ku("digital_signature", "key_encipherment"), True),
                       (raw_ext("1.3.6.1.4.1.311.21.10", bytes.fromhex("300c300a06082b06010505070301")), False),
                       (san(["localhost"], ["127.0.0.1"]), False), (ski(k.public_key()), False), (aki(inter), False),
                       (crldp(f"{DEAD}/pki/Contoso%20Issuing%20CA%2001.crl"), False),
                       (aia(f"{DEAD}/pki/Contoso%20Issuing%20CA%2001.crt", f"{DEAD}/ocsp"), False), (pol, False)])
        return c, k
    (c1, k1), (c2, k2) = leaf(), leaf()
    return out(c1, k1, [inter], root), out(c2, k2, [inter]), {}


def shape_dotnet_dev_certs():
    """dotnet/aspnetcore src/Shared/CertificateGeneration/CertificateManager.cs
    (CreateAspNetCoreHttpsDevelopmentCertificate, .NET 8 shape): self-signed RSA-2048 CN=localhost,
    BC CA:FALSE, KU keyEncipherment|digitalSignature, EKU serverAuth, SAN DNS:localhost (all critical),
    ASP.NET HTTPS marker 1.3.6.1.4.1.311.84.1.1 = raw byte 0x02 (not DER); 1 year;
    `dotnet dev-certs https -ep x.pem --format Pem --no-password` writes PKCS#8."""
    def build():
        k = rsa_key()
        c = make(name((N.COMMON_NAME, "localhost")), k.public_key(), k, life=days(365),
                 exts=[(bc(False), True), (ku("digital_signature", "key_encipherment"), True),
                       (x509.ExtendedKeyUsage([EKU.SERVER_AUTH]), True), (san(["localhost"]), True),
                       (raw_ext("1.3.6.1.4.1.311.84.1.1", b"\x02"), False)])
        return c, k, "pkcs8"
    return selfsigned_pair(build)


def shape_go_generate_cert():
    """Go src/crypto/tls/generate_cert.go --host localhost,127.0.0.1 --ecdsa-curve P256: O=Acme Co,
    KU digitalSignature (critical), EKU serverAuth, BC CA:FALSE (critical), SAN; 1 year; no SKI/AKI
    (Go adds SKI only to CAs); key.pem is PKCS#8."""
    def build():
        k = ec_key()
        c = make(name((N.ORGANIZATION_NAME, "Acme Co")), k.public_key(), k, life=days(365),
                 exts=[(ku("digital_signature"), True), (x509.ExtendedKeyUsage([EKU.SERVER_AUTH]), False),
                       (bc(False), True), (san(["localhost"], ["127.0.0.1"]), False)])
        return c, k, "pkcs8"
    return selfsigned_pair(build)
