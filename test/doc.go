// Package test holds mm2go's end-to-end tests: real workers replicating
// between in-process fake Kafka clusters (franz-go's kfake), compared record
// by record.
package test
