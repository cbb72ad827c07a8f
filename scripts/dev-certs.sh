#!/bin/sh
# Makes a throwaway certificate authority and certificates for trying depot's TLS on one
# machine (docs/security.md). Not for production: the keys are unencrypted and the CA is
# made on the spot.
#
#   scripts/dev-certs.sh DIR        writes into DIR (made if missing; existing files are kept
#                                   unless --force):
#     ca.crt ca.key                 the CA clients and the manager trust
#     server.crt server.key         the manager, for localhost, 127.0.0.1 and ::1
#     server2.crt server2.key       a second manager certificate (rotation by SIGHUP)
#     client.crt client.key         a client certificate (CN depot-client) for mutual TLS
#     expired-client.crt/.key       a client certificate that expired in 2020
#     other-ca.crt other-ca.key     an unrelated CA ...
#     other-client.crt/.key         ... and a client certificate it signed
#     wrong-host.crt/.key           a manager certificate for another host name (not localhost)
set -eu

force=0
dir=""
for a in "$@"; do
  case "$a" in
    --force) force=1 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    -*) echo "dev-certs.sh: unknown option '$a' (--help lists them)" >&2; exit 2 ;;
    *) dir="$a" ;;
  esac
done
[ -n "$dir" ] || { echo "usage: scripts/dev-certs.sh DIR [--force]" >&2; exit 2; }
command -v openssl >/dev/null || { echo "dev-certs.sh: the openssl command is missing (apt-get install openssl)" >&2; exit 1; }
mkdir -p "$dir"
if [ -s "$dir/ca.crt" ] && [ -s "$dir/expired-client.crt" ] && [ "$force" -eq 0 ]; then
  echo "dev-certs.sh: certificates already in $dir (--force makes new ones)"
  exit 0
fi
umask 077
cd "$dir"
days=825

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$1" 2>/dev/null; }

ca() {  # ca NAME SUBJECT
  key "$1.key"
  openssl req -x509 -new -key "$1.key" -sha256 -days 3650 -subj "$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$1.crt"
}

# sign NAME CA SUBJECT EXTFILE-CONTENT
sign() {
  key "$1.key"
  openssl req -new -key "$1.key" -subj "$3" -out "$1.csr"
  printf '%s\n' "$4" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial -sha256 \
    -days "$days" -extfile "$1.ext" -out "$1.crt" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}

server_ext='basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1'
client_ext='basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth'

ca ca "/CN=depot development CA"
sign server ca "/CN=localhost" "$server_ext"
sign server2 ca "/CN=localhost" "$server_ext"
sign client ca "/CN=depot-client" "$client_ext"
sign wrong-host ca "/CN=depot.invalid" 'basicConstraints=CA:FALSE
extendedKeyUsage=serverAuth
subjectAltName=DNS:depot.invalid'
ca other-ca "/CN=an unrelated CA"
sign other-client other-ca "/CN=depot-client" "$client_ext"

# An expired client certificate: `openssl ca` takes explicit start and end dates.
key expired-client.key
openssl req -new -key expired-client.key -subj "/CN=depot-expired" -out expired-client.csr
mkdir -p ca-db
: > ca-db/index.txt
echo 1000 > ca-db/serial
cat > ca-db/ca.cnf <<EOF
[ ca ]
default_ca = dev
[ dev ]
database = ca-db/index.txt
serial = ca-db/serial
new_certs_dir = ca-db
default_md = sha256
policy = any
unique_subject = no
[ any ]
commonName = supplied
[ client ]
basicConstraints = CA:FALSE
extendedKeyUsage = clientAuth
EOF
openssl ca -batch -config ca-db/ca.cnf -cert ca.crt -keyfile ca.key -in expired-client.csr \
  -startdate 20200101000000Z -enddate 20200102000000Z -extensions client \
  -out expired-client.crt 2>/dev/null
rm -rf ca-db expired-client.csr ca.srl other-ca.srl
chmod 644 ./*.crt
echo "dev-certs.sh: CA, server and client certificates in $(pwd)"
