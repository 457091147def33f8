package toolkey

import "crypto"

// cryptoSHA256 names the hash of key thumbprints (RFC 7638).
const cryptoSHA256 = crypto.SHA256
