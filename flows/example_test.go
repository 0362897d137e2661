package flows_test

import (
	"errors"
	"fmt"

	"github.com/mm2go/mm2go/flows"
)

func ExampleFile_Expand() {
	f, err := flows.Parse([]byte(`
clusters:
  primary: {bootstrap_servers: ["p1:9092"]}
  backup: {bootstrap_servers: ["b1:9092"]}
settings:
  replication.factor: 3
flows:
  - source: primary
    target: backup
    topics: ["orders\\..*", "payments"]
    settings: {replication.factor: 2}
`), flows.FormatYAML)
	if err != nil {
		fmt.Println(err)
		return
	}
	x, err := f.Expand()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, fc := range x.Flows {
		fmt.Println(fc.Name(), fc.Props["topics"], fc.Props["replication.factor"], fc.Props["source.cluster.alias"])
	}
	// Output:
	// primary->backup orders\..*,payments 2 primary
}

func ExampleFile_Validate() {
	f, err := flows.Parse([]byte(`
clusters = A, B
A.bootstrap.servers = a:9092
A->B.enabled = true
A->B.topics = (?!internal).*
`), flows.FormatProperties)
	if err != nil {
		fmt.Println(err)
		return
	}
	err = f.Validate()
	fmt.Println(err)

	var fe *flows.FieldError
	if errors.As(err, &fe) {
		fmt.Println("first problem at", fe.Path)
	}
	// Output:
	// B.bootstrap.servers: required: list at least one host:port
	// A->B.topics: bad regex "(?!internal).*": error parsing regexp: invalid or unsupported Perl syntax: `(?!`; Go's RE2 regexps have no look-around, backreferences, atomic groups or possessive quantifiers
	// first problem at B.bootstrap.servers
}
