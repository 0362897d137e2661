package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/mm2go/mm2go/flows"
)

// validateResult is what `mm2go validate --json` prints.
type validateResult struct {
	File     string            `json:"file"`
	Valid    bool              `json:"valid"`
	Problems []validateProblem `json:"problems"`
	Warnings []string          `json:"warnings"`
	Flows    []string          `json:"enabled_flows"`
}

type validateProblem struct {
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
}

func runValidate(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("validate", "validate --config FILE [--json]", stdout)
	config := fs.String("config", "", "flow file: YAML (.yaml, .yml) or MM2's mm2.properties (.properties)")
	jsonOut := fs.Bool("json", false, "print the result as JSON")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	if *config == "" {
		fmt.Fprintln(stderr, "mm2go validate: --config is required: the flow file to check")
		return exitUsage
	}
	res := validateResult{File: *config, Problems: []validateProblem{}, Warnings: []string{}, Flows: []string{}}
	f, err := flows.Load(*config)
	if err == nil {
		res.Warnings = append(res.Warnings, f.Warnings...)
		err = f.Check() // every problem at once, the TLS files' too
	}
	if err == nil {
		var e *flows.Expanded
		if e, err = f.Expand(); err == nil {
			if _, _, err = e.Plan(); err == nil {
				for _, fl := range e.Flows {
					res.Flows = append(res.Flows, fl.Name())
				}
				if len(res.Flows) == 0 {
					err = errNoFlows
				}
			}
		}
	}
	if err != nil {
		for _, e := range flattenErrors(err) {
			var fe *flows.FieldError
			if errors.As(e, &fe) {
				res.Problems = append(res.Problems, validateProblem{Path: fe.Path, Message: fe.Msg})
			} else {
				res.Problems = append(res.Problems, validateProblem{Message: e.Error()})
			}
		}
	}
	res.Valid = len(res.Problems) == 0
	if *jsonOut {
		_ = writeJSON(stdout, res)
	} else {
		for _, w := range res.Warnings {
			fmt.Fprintf(stdout, "warning: %s\n", w)
		}
		if res.Valid {
			fmt.Fprintf(stdout, "%s is valid; enabled flows: %s\n", res.File, joinOr(res.Flows, "none"))
		} else {
			fmt.Fprintf(stdout, "%s has %d problem(s):\n", res.File, len(res.Problems))
			for _, p := range res.Problems {
				if p.Path != "" {
					fmt.Fprintf(stdout, "  %s: %s\n", p.Path, p.Message)
				} else {
					fmt.Fprintf(stdout, "  %s\n", p.Message)
				}
			}
		}
	}
	if !res.Valid {
		return exitUsage
	}
	return exitOK
}

// flattenErrors flattens joined errors, keeping the error values.
func flattenErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, c := range j.Unwrap() {
			out = append(out, flattenErrors(c)...)
		}
		return out
	}
	return []error{err}
}

func joinOr(items []string, none string) string {
	if len(items) == 0 {
		return none
	}
	s := items[0]
	for _, it := range items[1:] {
		s += ", " + it
	}
	return s
}
