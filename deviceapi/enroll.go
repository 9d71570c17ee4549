package deviceapi

import (
	"encoding/json"
	"errors"
	"strings"
)

// EnrollPath is the device API endpoint an agent enrolls at, once.
const EnrollPath = "/v1/enroll"

// DeploymentPath is where an enrolled device asks what it should run.
const DeploymentPath = "/v1/device/deployment"

// EnrollRequest is what an agent sends on first start.
type EnrollRequest struct {
	Token string `json:"token"`
	Name  string `json:"name"`
	CSR   string `json:"csr"` // PEM
}

// EnrollResponse is everything a device needs to take part afterwards.
type EnrollResponse struct {
	Device      string          `json:"device"`
	Certificate string          `json:"certificate"` // PEM
	CA          string          `json:"ca"`          // PEM
	MQTT        string          `json:"mqtt"`        // host:port
	TrustedRoot json.RawMessage `json:"trusted_root"`
}

// ErrMalformedToken is a token not in the form SplitToken reads.
var ErrMalformedToken = errors.New("malformed enrollment token; copy it exactly as 'vise device token create' printed it")

// TokenPinLen is the length of the CA fingerprint prefix a token pins.
const TokenPinLen = 32

// JoinToken makes an enrollment token from its secret and the CA
// fingerprint prefix a device must find at the server.
func JoinToken(secret, caPin string) string { return secret + "." + caPin }

// SplitToken separates an enrollment token into its secret and the CA
// fingerprint prefix it pins.
func SplitToken(token string) (secret, caPin string, err error) {
	secret, caPin, ok := strings.Cut(strings.TrimSpace(token), ".")
	if !ok || len(secret) < 20 || len(caPin) != TokenPinLen {
		return "", "", ErrMalformedToken
	}
	return secret, caPin, nil
}

// Where an enrolled device fetches signed release metadata and artifacts
// (mutual TLS, its device certificate).
const (
	ReleasePath   = "/v1/release"            // TUF metadata
	TargetsPath   = "/v1/targets"            // TUF targets: recipes, documents
	ArtifactsPath = "/v1/targets/artifacts/" // + sha256: an artifact, ranges allowed
)
