package main

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestRunConfig(t *testing.T) {
	if got, err := runConfig(nil, nil); got != nil || err != nil {
		t.Errorf("no flags: %v, %v", got, err)
	}
	got, err := runConfig([]string{"GREETING=hello, world", "EMPTY=", "A=x=y"}, []string{"--port", "9090"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Name != "opt/bootapp/config" {
		t.Fatalf("fw_cfg %+v", got)
	}
	var doc struct {
		Env  map[string]string `json:"env"`
		Args []string          `json:"args"`
	}
	if err := json.Unmarshal([]byte(got[0].Value), &doc); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(doc.Env, map[string]string{"GREETING": "hello, world", "EMPTY": "", "A": "x=y"}) || !reflect.DeepEqual(doc.Args, []string{"--port", "9090"}) {
		t.Errorf("document %s", got[0].Value)
	}
	only, _ := runConfig([]string{"A=1"}, nil)
	if only[0].Value != `{"env":{"A":"1"}}` {
		t.Errorf("env only: %s (must not replace the arguments)", only[0].Value)
	}
	for _, bad := range []string{"NOEQUALS", "=v", "A B=1", "A=\x00"} {
		if _, err := runConfig([]string{bad}, nil); err == nil {
			t.Errorf("--env %q accepted", bad)
		}
	}
}
