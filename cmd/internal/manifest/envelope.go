package manifest

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"venuebox/cmd/internal/ticket"
)

// MaxSize caps a manifest file: about a million tickets.
const MaxSize = 512 << 20

// Errors from Parse and ReadFile, wrapped with detail; test them with errors.Is.
var (
	// ErrTooLarge means the input is larger than MaxSize.
	ErrTooLarge = errors.New("manifest: larger than the size cap")
	// ErrMalformed means the envelope cannot be read.
	ErrMalformed = errors.New("manifest: malformed envelope")
	// ErrUnknownKey means no trusted key has the envelope's key id.
	ErrUnknownKey = errors.New("manifest: unknown signing key")
	// ErrBadSignature means no trusted key verifies the body.
	ErrBadSignature = errors.New("manifest: bad signature")
	// ErrInvalid means the body is signed but not a valid manifest.
	ErrInvalid = errors.New("manifest: invalid body")
)

// envelope is the file's outer JSON object.
type envelope struct {
	KeyID string          `json:"key_id"`
	Body  json.RawMessage `json:"body"`
	Sig   string          `json:"sig"`
}

// Sign validates m and returns the signed envelope, ready to write.
func Sign(priv ed25519.PrivateKey, m *Manifest) ([]byte, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, errors.New("manifest: sign: private key has the wrong size")
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("manifest: sign: %w", err)
	}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("manifest: sign: %w", err)
	}
	env := envelope{
		KeyID: ticket.KeyIDOf(priv.Public().(ed25519.PublicKey)).String(),
		Body:  body,
		Sig:   base64.StdEncoding.EncodeToString(ed25519.Sign(priv, body)),
	}
	out, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("manifest: sign: %w", err)
	}
	return append(out, '\n'), nil
}

// Parse verifies a signed envelope against the trusted keys and returns the
// validated manifest. Nothing in the body is read before the signature holds.
func Parse(data []byte, trust *ticket.Keyring) (*Manifest, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(data))
	}
	var env envelope
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the envelope", ErrMalformed)
	}
	id, err := ticket.ParseKeyID(env.KeyID)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	sig, err := base64.StdEncoding.DecodeString(env.Sig)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: signature is not %d bytes of base64", ErrMalformed, ed25519.SignatureSize)
	}
	if len(env.Body) == 0 {
		return nil, fmt.Errorf("%w: no body", ErrMalformed)
	}
	keys := trust.Keys(id)
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: key id %s", ErrUnknownKey, id)
	}
	ok := false
	for _, pub := range keys {
		if ed25519.Verify(pub, env.Body, sig) {
			ok = true
			break
		}
	}
	if !ok {
		return nil, fmt.Errorf("%w: key id %s", ErrBadSignature, id)
	}
	var m Manifest
	if err := json.Unmarshal(env.Body, &m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return &m, nil
}

// ReadFile reads and parses a signed manifest file.
func ReadFile(path string, trust *ticket.Keyring) (*Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("manifest: read: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("manifest: read %s: %w", path, err)
	}
	m, err := Parse(data, trust)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}
