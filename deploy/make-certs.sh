#!/bin/sh
# Make a private CA and a server certificate signed by it, for the TLS listener of deploy/mosquitto-secure.conf.
#
# Why a private CA: the agents only need to trust this one broker, so they pin this CA (--ca-file) instead of the
# public ones, and a certificate from anywhere else is refused.
#
# Usage: deploy/make-certs.sh OUT_DIR HOSTNAME [IP]
#   OUT_DIR   where ca.crt, ca.key, server.crt and server.key are written (e.g. /etc/mosquitto/certs)
#   HOSTNAME  the name the clients connect to; it goes into the certificate's subjectAltName
#   IP        optional address the clients may connect to instead (also put into subjectAltName)
# Keep ca.key offline: it is only needed again to sign a new server certificate.
set -eu

if [ $# -lt 2 ]; then
    echo "usage: $0 OUT_DIR HOSTNAME [IP]" >&2
    exit 2
fi
out=$1
host=$2
san="DNS:$host"
if [ $# -ge 3 ]; then
    san="$san,IP:$3"
fi
days=${DAYS:-825}

mkdir -p "$out"
umask 077
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days "$days" \
    -subj "/CN=wattcast broker CA" -keyout "$out/ca.key" -out "$out/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -sha256 \
    -subj "/CN=$host" -keyout "$out/server.key" -out "$out/server.csr" 2>/dev/null
printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' \
    "$san" > "$out/server.ext"
openssl x509 -req -sha256 -days "$days" -in "$out/server.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" \
    -CAcreateserial -extfile "$out/server.ext" -out "$out/server.crt" 2>/dev/null
rm -f "$out/server.csr" "$out/server.ext" "$out/ca.srl"
# The CA certificate is public; the broker (which may run as user mosquitto) must read its own key.
chmod 644 "$out/ca.crt" "$out/server.crt"
chmod 640 "$out/server.key"
echo "wrote $out/ca.crt $out/server.crt $out/server.key (subjectAltName $san)"
