package ticket

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Key file names that GenerateKey writes into its directory.
const (
	PrivateKeyFile = "signing.key"
	PublicKeyFile  = "signing.pub"
)

// maxKeyFile caps what the key loaders read: a PEM Ed25519 key is ~120 bytes.
const maxKeyFile = 64 << 10

// GenerateKey creates an Ed25519 key pair and writes dir/signing.key (mode
// 0600, PEM PKCS #8) and dir/signing.pub (PEM PKIX). It never overwrites an
// existing key. It returns the new key's id.
func GenerateKey(dir string) (KeyID, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return KeyID{}, fmt.Errorf("ticket: generate key: %w", err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return KeyID{}, fmt.Errorf("ticket: generate key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return KeyID{}, fmt.Errorf("ticket: generate key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return KeyID{}, fmt.Errorf("ticket: generate key: %w", err)
	}
	privPath := filepath.Join(dir, PrivateKeyFile)
	pubPath := filepath.Join(dir, PublicKeyFile)
	if _, err := os.Lstat(pubPath); err == nil {
		return KeyID{}, fmt.Errorf("ticket: generate key: %s already exists", pubPath)
	}
	if err := writeNew(privPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), 0o600); err != nil {
		return KeyID{}, fmt.Errorf("ticket: generate key: %w", err)
	}
	if err := writeNew(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		// A private key without its public half is of no use; the removal
		// error matters less than the write error being reported.
		_ = os.Remove(privPath)
		return KeyID{}, fmt.Errorf("ticket: generate key: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		// Best effort: make the new names durable; the files themselves
		// were synced.
		_ = d.Sync()
		_ = d.Close()
	}
	return KeyIDOf(pub), nil
}

// writeNew creates path (failing if it exists), writes data and syncs it.
func writeNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close() // the write error is the one to report
		_ = os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close() // the sync error is the one to report
		_ = os.Remove(path)
		return err
	}
	return f.Close()
}

// readPEM reads one PEM block of the given type from a small file.
func readPEM(path, typ string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxKeyFile {
		return nil, errors.New("file too large for a key")
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	if block.Type != typ {
		return nil, fmt.Errorf("PEM block is %q, want %q", block.Type, typ)
	}
	return block.Bytes, nil
}

// LoadPrivateKey reads an Ed25519 private key written by GenerateKey.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	der, err := readPEM(path, "PRIVATE KEY")
	if err != nil {
		return nil, fmt.Errorf("ticket: load private key %s: %w", path, err)
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("ticket: load private key %s: %w", path, err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("ticket: load private key %s: %T is not Ed25519", path, key)
	}
	return priv, nil
}

// LoadPublicKey reads an Ed25519 public key written by GenerateKey.
func LoadPublicKey(path string) (ed25519.PublicKey, error) {
	der, err := readPEM(path, "PUBLIC KEY")
	if err != nil {
		return nil, fmt.Errorf("ticket: load public key %s: %w", path, err)
	}
	key, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("ticket: load public key %s: %w", path, err)
	}
	pub, ok := key.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("ticket: load public key %s: %T is not Ed25519", path, key)
	}
	return pub, nil
}
