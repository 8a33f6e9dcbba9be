// Command go-agent is a test oracle: it decides, the way Determined's Go agent does, whether a TLS
// connection to the master is trusted. It does not import Determined; it reproduces its behaviour.
//
// Upstream (determined-ai/determined):
//   - agent/internal/agent.go (*Agent).tlsConfig: when security.tls.master_cert is set, RootCAs is a
//     NEW pool holding only that file's certificates ("certificate file contains no certificates"
//     if none parse); otherwise RootCAs is nil (= system roots). ServerName = master_cert_name,
//     InsecureSkipVerify = skip_verify, MinVersion = TLS 1.2.
//   - agent/internal/options/options.go TLSOptions.Validate: master_cert together with skip_verify
//     is a configuration error.
//   - (*Agent).connect dials wss://<master_host>:<port>/agents with a gorilla/websocket Dialer,
//     which fills an empty ServerName with the URL's host, so the name checked (and sent as SNI) is
//     master_cert_name if set, else master_host.
//
// Usage:
//
//	go-agent -addr 127.0.0.1:PORT [-master-cert FILE] [-master-cert-name NAME] [-host HOSTNAME] [-skip-verify]
//	go-agent -verify-only -chain FILE [-master-cert FILE] [-master-cert-name NAME] [-host HOSTNAME]
//
// -host is the agent's master_host (default: the host part of -addr); the TCP connection always
// goes to -addr. -verify-only verifies -chain (leaf first, rest as intermediates) with x509.Verify
// and no network, as crypto/tls would for that presented chain. Prints one JSON line
// {"verdict":"accept"|"reject","error":"..."} and exits 0 for both verdicts; 2 on usage errors.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"time"
)

type result struct {
	Verdict string `json:"verdict"`
	Error   string `json:"error"`
}

func emit(err error) {
	r := result{Verdict: "accept"}
	if err != nil {
		r = result{Verdict: "reject", Error: err.Error()}
	}
	b, _ := json.Marshal(r)
	fmt.Println(string(b))
}

func usage(msg string) {
	fmt.Fprintln(os.Stderr, "go-agent: "+msg)
	flag.Usage()
	os.Exit(2)
}

// rootPool mirrors tlsConfig(): nil (system roots) unless a master cert file is configured.
func rootPool(masterCert string) (*x509.CertPool, error) {
	if masterCert == "" {
		return nil, nil
	}
	data, err := os.ReadFile(masterCert)
	if err != nil {
		return nil, fmt.Errorf("failed to read certificate file %q: %w", masterCert, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, errors.New("certificate file contains no certificates")
	}
	return pool, nil
}

func readChain(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse chain: %w", err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("chain file contains no certificates")
	}
	return certs, nil
}

func verifyOnly(chainFile string, pool *x509.CertPool, name string) error {
	certs, err := readChain(chainFile)
	if err != nil {
		return err
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	// Same options crypto/tls uses in verifyServerCertificate (KeyUsages defaults to ServerAuth).
	_, err = certs[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, DNSName: name})
	return err
}

func handshake(addr string, cfg *tls.Config, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	d := &net.Dialer{Timeout: timeout}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer raw.Close()
	conn := tls.Client(raw, cfg)
	if err := conn.HandshakeContext(ctx); err != nil {
		return err
	}
	// gorilla/websocket also calls VerifyHostname after the handshake unless verification is off.
	if !cfg.InsecureSkipVerify {
		return conn.VerifyHostname(cfg.ServerName)
	}
	return nil
}

func main() {
	addr := flag.String("addr", "", "host:port to connect to")
	masterCert := flag.String("master-cert", "", "security.tls.master_cert (PEM file)")
	certName := flag.String("master-cert-name", "", "security.tls.master_cert_name")
	host := flag.String("host", "", "master_host (default: host of -addr)")
	skip := flag.Bool("skip-verify", false, "security.tls.skip_verify")
	verify := flag.Bool("verify-only", false, "verify -chain offline instead of connecting")
	chain := flag.String("chain", "", "with -verify-only: PEM chain, leaf first")
	timeout := flag.Duration("timeout", 10*time.Second, "handshake timeout")
	flag.Parse()
	if flag.NArg() != 0 {
		usage("unexpected arguments")
	}
	if *masterCert != "" && *skip {
		usage("cannot specify a master cert file with verification off") // options.go Validate
	}
	if *verify {
		if *chain == "" {
			usage("-verify-only needs -chain")
		}
	} else if *addr == "" {
		usage("-addr is required")
	}
	if *host == "" && *addr != "" {
		h, _, err := net.SplitHostPort(*addr)
		if err != nil {
			usage("bad -addr: " + err.Error())
		}
		*host = h
	}
	serverName := *certName
	if serverName == "" {
		serverName = *host
	}
	pool, err := rootPool(*masterCert)
	if err != nil {
		emit(err) // the agent refuses to start: it never trusts the master
		return
	}
	if *verify {
		if serverName == "" {
			usage("-verify-only needs -host or -master-cert-name")
		}
		emit(verifyOnly(*chain, pool, serverName))
		return
	}
	cfg := &tls.Config{
		InsecureSkipVerify: *skip, //nolint:gosec // emulating skip_verify
		MinVersion:         tls.VersionTLS12,
		RootCAs:            pool,
		ServerName:         serverName,
	}
	emit(handshake(*addr, cfg, *timeout))
}
