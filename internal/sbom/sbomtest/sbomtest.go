// Package sbomtest checks SPDX documents against the official SPDX 2.3 JSON
// schema (vendored in internal/sbom/testdata). It is imported only from
// _test.go files, so the schema validator is never linked into bootapp.
package sbomtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// SchemaPath returns the path of the vendored SPDX 2.3 JSON schema.
func SchemaPath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", "spdx-schema-2.3.json")
}

// spdxID is the SPDXID syntax of the specification (the schema only says
// "string").
var spdxID = regexp.MustCompile(`^SPDXRef-[A-Za-z0-9.-]+$`)

// Validate checks doc, an SPDX JSON document, against the SPDX 2.3 schema,
// and the rules of the specification the schema does not encode that
// bootapp relies on: SPDXIDs are unique and well formed, every
// relationship names known elements, created is an RFC 3339 UTC time, and
// the namespace is set.
func Validate(doc []byte) error {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	sch, err := c.Compile(SchemaPath())
	if err != nil {
		return fmt.Errorf("compile schema %s: %w", SchemaPath(), err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("parse document: %w", err)
	}
	if err := sch.Validate(inst); err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	var d struct {
		SPDXID            string `json:"SPDXID"`
		DocumentNamespace string `json:"documentNamespace"`
		CreationInfo      struct {
			Created string `json:"created"`
		} `json:"creationInfo"`
		Packages []struct {
			SPDXID string `json:"SPDXID"`
		} `json:"packages"`
		Relationships []struct {
			From string `json:"spdxElementId"`
			To   string `json:"relatedSpdxElement"`
		} `json:"relationships"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return err
	}
	if d.DocumentNamespace == "" {
		return fmt.Errorf("no documentNamespace")
	}
	if _, err := time.Parse("2006-01-02T15:04:05Z", d.CreationInfo.Created); err != nil {
		return fmt.Errorf("created %q is not YYYY-MM-DDThh:mm:ssZ: %w", d.CreationInfo.Created, err)
	}
	ids := map[string]bool{d.SPDXID: true}
	for _, p := range d.Packages {
		if !spdxID.MatchString(p.SPDXID) {
			return fmt.Errorf("malformed SPDXID %q", p.SPDXID)
		}
		if ids[p.SPDXID] {
			return fmt.Errorf("duplicate SPDXID %q", p.SPDXID)
		}
		ids[p.SPDXID] = true
	}
	for _, r := range d.Relationships {
		if !ids[r.From] || !ids[r.To] {
			return fmt.Errorf("relationship %s -> %s names an unknown element", r.From, r.To)
		}
	}
	return nil
}

// ValidateFile is Validate of the file at path.
func ValidateFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := Validate(b); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
