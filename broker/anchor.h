/*
 * Trust anchors cmpd learned: a root CA update the networker checked (its
 * newWithOld verifies with the current anchor) is kept in
 * STATE_DIR/anchors/PROFILE.pem and trusted from then on beside the
 * configured anchors, for the CA's messages and for new certificates.
 */
#pragma once

#include "broker.h"

/* Adds the anchors kept for each profile (at startup). */
cmpd_err anchor_load(struct broker *b);

/* Keeps der as a new anchor of profile, in memory and on disk. */
cmpd_err anchor_add(
    struct broker *b, const char *profile, const ProtobufCBinaryData *der);
