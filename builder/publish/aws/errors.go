package aws

import (
	"errors"
	"strings"

	"github.com/aws/smithy-go"
)

var (
	// ErrInvalidOption is wrapped by every *OptionError.
	ErrInvalidOption = errors.New("invalid publish option")
	// ErrNoCredentials is wrapped when the credential chain found nothing.
	ErrNoCredentials = errors.New("no AWS credentials found")
	// ErrCredentials is wrapped when AWS refused the credentials or the
	// request's signature.
	ErrCredentials = errors.New("AWS refused the credentials")
	// ErrInput is wrapped when the build cannot be published as it is: no
	// raw boot disk, a disk larger than a snapshot can be, a file that
	// changed since the build.
	ErrInput = errors.New("cannot publish this build")
)

// OptionError reports an option whose value cannot be used. Option is the
// option's name in this package ("region", "profile", "name",
// "description", "tags", "endpoint", "ec2_endpoint", "ebs_endpoint",
// "concurrency", "data_volume"), so that each front door can name its own
// flag or setting; Msg says what is wrong in terms of the value.
type OptionError struct {
	Option string
	Msg    string
	// Err is ErrInvalidOption, or an error it wraps together with more
	// detail.
	Err error
}

// Error returns "OPTION: MSG".
func (e *OptionError) Error() string { return e.Option + ": " + e.Msg }

// Unwrap returns the kind of problem.
func (e *OptionError) Unwrap() error { return e.Err }

func optErr(option, msg string) error {
	return &OptionError{Option: option, Msg: msg, Err: ErrInvalidOption}
}

// apiCode returns the AWS error code of err, or "".
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// authError classifies an error of the first signed request: a region the
// service does not serve becomes a "region" OptionError, refused
// credentials ErrCredentials; anything else is returned as it is.
func authError(err error, region string) error {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return err
	}
	msg := ae.ErrorMessage()
	switch ae.ErrorCode() {
	case "SignatureDoesNotMatch", "AuthFailure", "InvalidClientTokenId", "UnrecognizedClientException",
		"IncompleteSignature", "MissingAuthenticationToken", "AuthorizationHeaderMalformed", "ExpiredToken":
		if strings.Contains(strings.ToLower(msg), "region") {
			return &OptionError{Option: "region", Msg: "AWS refused region " + region + ": " + msg, Err: ErrInvalidOption}
		}
		return &wrapped{kind: ErrCredentials, err: err}
	}
	return err
}

// wrapped is an error of a kind (a sentinel) with its cause.
type wrapped struct {
	kind error
	err  error
}

func (w *wrapped) Error() string   { return w.kind.Error() + ": " + w.err.Error() }
func (w *wrapped) Unwrap() []error { return []error{w.kind, w.err} }
