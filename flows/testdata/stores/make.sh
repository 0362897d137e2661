#!/bin/sh
# Makes the Java key and trust stores of flows/keystore_test.go with the
# JDK's keytool (made with JDK 17). The outputs are committed, so the tests
# need no JDK; run this in this directory to make them again.
#
#   ca.pem           the test CA (EC P-256)
#   broker.p12       the broker's key and chain (CN=localhost, IP 127.0.0.1), password broker-pass
#   client.jks       mm2go's RSA key and chain, store password store-pass, key password key-pass
#   client.p12       the same in PKCS12, password store-pass
#   client-key.pem   the same key as encrypted PKCS#8 (key-pass), client-chain.pem its chain
#   truststore.jks   the CA as a trusted certificate entry, password trust-pass
#   truststore.p12   the same in PKCS12, password trust-pass
set -eu
rm -f ./*.jks ./*.p12 ./*.pem ./*.csr ./*.crt
kt() { keytool -noprompt "$@" >/dev/null 2>&1; }
days=36500

kt -genkeypair -alias ca -dname CN=mm2go-test-ca -ext bc:c -keyalg EC -groupname secp256r1 -validity $days \
	-keystore ca.p12 -storetype PKCS12 -storepass ca-pass
kt -exportcert -rfc -alias ca -keystore ca.p12 -storepass ca-pass -file ca.pem

kt -genkeypair -alias broker -dname CN=localhost -keyalg EC -groupname secp256r1 -validity $days \
	-keystore broker.p12 -storetype PKCS12 -storepass broker-pass
kt -certreq -alias broker -keystore broker.p12 -storepass broker-pass -file broker.csr
kt -gencert -alias ca -keystore ca.p12 -storepass ca-pass -infile broker.csr -outfile broker.crt -rfc -validity $days \
	-ext san=ip:127.0.0.1,dns:localhost -ext eku=serverAuth
kt -importcert -alias ca -file ca.pem -keystore broker.p12 -storepass broker-pass
kt -importcert -alias broker -file broker.crt -keystore broker.p12 -storepass broker-pass

kt -genkeypair -alias mm2go -dname CN=mm2go -keyalg RSA -keysize 2048 -validity $days \
	-keystore client.jks -storetype JKS -storepass store-pass -keypass key-pass
kt -certreq -alias mm2go -keystore client.jks -storepass store-pass -keypass key-pass -file client.csr
kt -gencert -alias ca -keystore ca.p12 -storepass ca-pass -infile client.csr -outfile client.crt -rfc -validity $days \
	-ext eku=clientAuth
kt -importcert -alias ca -file ca.pem -keystore client.jks -storepass store-pass
kt -importcert -alias mm2go -file client.crt -keystore client.jks -storepass store-pass -keypass key-pass
kt -importkeystore -srckeystore client.jks -srcstoretype JKS -srcstorepass store-pass -srcalias mm2go -srckeypass key-pass \
	-destkeystore client.p12 -deststoretype PKCS12 -deststorepass store-pass -destkeypass store-pass
openssl pkcs12 -in client.p12 -passin pass:store-pass -nocerts -nodes 2>/dev/null |
	openssl pkcs8 -topk8 -v2 aes-256-cbc -passout pass:key-pass -out client-key.pem
openssl pkcs12 -in client.p12 -passin pass:store-pass -nokeys 2>/dev/null | sed -n '/BEGIN/,/END/p' >client-chain.pem

kt -importcert -alias ca -file ca.pem -keystore truststore.jks -storetype JKS -storepass trust-pass
kt -importcert -alias ca -file ca.pem -keystore truststore.p12 -storetype PKCS12 -storepass trust-pass

rm -f ./*.csr ./*.crt ca.p12
