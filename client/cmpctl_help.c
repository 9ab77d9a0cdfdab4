/*
 * The table of cmpctl's commands and their help texts.
 */
#include <string.h>

#include "cmpctl.h"

static const struct cmpctl_cmd cmds[] = {
	{ "enroll", cmpctl_enroll, "ask for a certificate",
	    "Usage: cmpctl enroll --profile P [--subject DN] [--san SAN]...\n"
	    "                     [--key-type T | --key-id ID]\n"
	    "                     [--op ir|cr|p10cr] [--wait]\n"
	    "                     [--timeout SECONDS] [--cert-out FILE]\n"
	    "                     [--chain-out FILE]\n"
	    "\n"
	    "Starts an enrollment job with profile P and shows the job.\n"
	    "\n"
	    "  -p, --profile P      the profile (a section of cmpd.conf)\n"
	    "  -s, --subject DN     subject name, \"/CN=host/O=Org\"\n"
	    "  -a, --san SAN        subject alternative name, repeatable:\n"
	    "                       DNS:name, IP:address, URI:uri, "
	    "email:address\n"
	    "  -k, --key-type T     new key: ec-p256, ec-p384, rsa2048,\n"
	    "                       rsa3072, rsa4096, ed25519\n"
	    "  -K, --key-id ID      enroll this key of cmpd's key store\n"
	    "  -o, --op OP          how to ask the CA: ir, cr (protected by\n"
	    "                       a certificate cmpd has) or p10cr (a\n"
	    "                       PKCS#10 request)\n"
	    "  -w, --wait           wait until the job is done or failed\n"
	    "  -t, --timeout S      with --wait, give up after S seconds\n"
	    "                       (default 300; 0 waits without limit)\n"
	    "  -c, --cert-out FILE  write the certificate (PEM, mode 0644);\n"
	    "                       implies --wait\n"
	    "  -C, --chain-out FILE write the chain (PEM, mode 0644);\n"
	    "                       implies --wait\n"
	    "\n"
	    "Unset options take the profile's defaults.\n" },
	{ "status", cmpctl_status, "show a job",
	    "Usage: cmpctl status JOB [--wait] [--timeout SECONDS]\n"
	    "                     [--cert-out FILE] [--chain-out FILE]\n"
	    "\n"
	    "Shows job JOB; exits 1 if the job failed.\n"
	    "\n"
	    "  -w, --wait           wait until the job is done or failed\n"
	    "  -t, --timeout S      with --wait, give up after S seconds\n"
	    "                       (default 300; 0 waits without limit)\n"
	    "  -c, --cert-out FILE  write the certificate (PEM, mode 0644);\n"
	    "                       implies --wait\n"
	    "  -C, --chain-out FILE write the chain (PEM, mode 0644);\n"
	    "                       implies --wait\n" },
	{ "jobs", cmpctl_jobs, "list jobs",
	    "Usage: cmpctl jobs [--profile P]\n"
	    "\n"
	    "Lists the jobs you may see, of profile P or of all.\n"
	    "\n"
	    "  -p, --profile P      only jobs of this profile\n" },
	{ "list", cmpctl_list, "list the certificates cmpd tracks",
	    "Usage: cmpctl list [--profile P]\n"
	    "\n"
	    "Lists the certificates cmpd enrolled and tracks, of profile P\n"
	    "or of all: id, profile, state (active, superseded, revoked,\n"
	    "expired), subject, not after, next renewal and the last\n"
	    "renewal's error. --json shows every field.\n"
	    "\n"
	    "  -p, --profile P      only certificates of this profile\n" },
	{ "renew", cmpctl_renew, "renew a certificate now (KUR)",
	    "Usage: cmpctl renew CERT|PROFILE [--keep-key | --key-type T]\n"
	    "                    [--wait] [--timeout SECONDS]\n"
	    "                    [--cert-out FILE] [--chain-out FILE]\n"
	    "\n"
	    "Renews a tracked certificate now with a key update request,\n"
	    "protected by the certificate itself, and shows the job. CERT\n"
	    "is a certificate's id (see list); a PROFILE names the\n"
	    "profile's current certificate. The old key is retired once the\n"
	    "new certificate is confirmed.\n"
	    "\n"
	    "      --keep-key       certify the current key again\n"
	    "  -k, --key-type T     the new key's type (default: as before):\n"
	    "                       ec-p256, ec-p384, rsa2048, rsa3072,\n"
	    "                       rsa4096, ed25519\n"
	    "  -w, --wait           wait until the job is done or failed\n"
	    "  -t, --timeout S      with --wait, give up after S seconds\n"
	    "                       (default 300; 0 waits without limit)\n"
	    "  -c, --cert-out FILE  write the new certificate (PEM, mode\n"
	    "                       0644); implies --wait\n"
	    "  -C, --chain-out FILE write the chain (PEM, mode 0644);\n"
	    "                       implies --wait\n" },
	{ "revoke", cmpctl_revoke, "revoke a certificate (RR)",
	    "Usage: cmpctl revoke CERT|PROFILE [--reason NAME|NUMBER]\n"
	    "                     [--wait] [--timeout SECONDS]\n"
	    "\n"
	    "Asks the CA to revoke a tracked certificate and shows the job.\n"
	    "Once the CA confirms, cmpd marks the certificate revoked and no\n"
	    "longer renews it. CERT is a certificate's id (see list); a\n"
	    "PROFILE names the profile's current certificate.\n"
	    "\n"
	    "  -r, --reason R       the CRLReason (RFC 5280), by name or\n"
	    "                       number: unspecified (0), keyCompromise\n"
	    "                       (1), cACompromise (2), affiliationChanged\n"
	    "                       (3), superseded (4), cessationOfOperation\n"
	    "                       (5), certificateHold (6), removeFromCRL\n"
	    "                       (8), privilegeWithdrawn (9), aACompromise\n"
	    "                       (10); default: none given\n"
	    "  -w, --wait           wait until the job is done or failed\n"
	    "  -t, --timeout S      with --wait, give up after S seconds\n"
	    "                       (default 300; 0 waits without limit)\n" },
	{ "ca-certs", cmpctl_ca_certs, "fetch the CA certificates (genm)",
	    "Usage: cmpctl ca-certs --profile P [--out FILE]\n"
	    "                       [--timeout SECONDS]\n"
	    "\n"
	    "Asks profile P's CA for its CA certificates (genm caCerts),\n"
	    "waits for the answer and prints the certificates' subjects.\n"
	    "\n"
	    "  -p, --profile P      the profile; required\n"
	    "  -o, --out FILE       write the certificates (PEM, mode 0644)\n"
	    "                       instead of printing their subjects\n"
	    "  -t, --timeout S      give up after S seconds (default 300;\n"
	    "                       0 waits without limit)\n" },
	{ "root-update", cmpctl_root_update,
	    "fetch the root CA key update (genm)",
	    "Usage: cmpctl root-update --profile P [--out FILE]\n"
	    "                          [--timeout SECONDS]\n"
	    "\n"
	    "Asks profile P's CA whether its root CA has a new key (genm\n"
	    "rootCaCert / rootCaKeyUpdate, for the profile's current trust\n"
	    "anchor), waits for the answer and prints it: the new root, and\n"
	    "that cmpd checked newWithOld against the current trust anchor.\n"
	    "Prints \"the CA has no root CA update\" when there is none.\n"
	    "\n"
	    "  -p, --profile P      the profile; required\n"
	    "  -o, --out FILE       write the new root CA certificate\n"
	    "                       (newWithNew, PEM, mode 0644)\n"
	    "  -t, --timeout S      give up after S seconds (default 300;\n"
	    "                       0 waits without limit)\n" },
	{ "template", cmpctl_template,
	    "fetch the certificate request template (genm)",
	    "Usage: cmpctl template --profile P [--timeout SECONDS]\n"
	    "\n"
	    "Asks profile P's CA for its certificate request template (genm\n"
	    "certReqTemplate), waits for the answer and prints the template\n"
	    "(subject, key algorithm, extensions) and the key spec. Prints\n"
	    "\"the CA has no template\" when there is none.\n"
	    "\n"
	    "  -p, --profile P      the profile; required\n"
	    "  -t, --timeout S      give up after S seconds (default 300;\n"
	    "                       0 waits without limit)\n" },
	{ "key", cmpctl_key, "import or list keys",
	    "Usage: cmpctl key import FILE [--passphrase-file F]\n"
	    "       cmpctl key list\n"
	    "\n"
	    "key import: imports the PEM private key in FILE into cmpd's key\n"
	    "store, encrypted on the way so that only the key store can read\n"
	    "it, and shows its key id (for enroll --key-id).\n"
	    "\n"
	    "  -P, --passphrase-file F  the passphrase of an encrypted FILE\n"
	    "                           (first line of F)\n"
	    "\n"
	    "key list: lists the keys in cmpd's key store.\n" },
	{ "watch", cmpctl_watch, "print job and certificate events",
	    "Usage: cmpctl watch [--profile P] [--count N]\n"
	    "                    [--timeout SECONDS] [--after SEQ]\n"
	    "\n"
	    "Prints one line (with --json: one JSON object per line) for\n"
	    "each event from now on: enrolled, renewed, renewal_failed,\n"
	    "revoked, expiring, expired, job_failed. You see the events of\n"
	    "your own jobs and those of the certificates of the profiles you\n"
	    "may use; an administrator sees all. Output is flushed after\n"
	    "every event.\n"
	    "\n"
	    "  -p, --profile P      only events of this profile\n"
	    "  -n, --count N        stop after N events (exit 6 if fewer\n"
	    "                       came before --timeout)\n"
	    "  -t, --timeout S      stop after S seconds (default: never)\n"
	    "  -a, --after SEQ      start after the event numbered SEQ (an\n"
	    "                       event's seq) instead of from now on;\n"
	    "                       cmpd keeps the latest 1024 events\n" },
	{ "health", cmpctl_health, "report what needs attention",
	    "Usage: cmpctl health [--profile P]\n"
	    "\n"
	    "Reports stuck jobs, certificates past their renewal point\n"
	    "without a successful renewal, certificates that expire before\n"
	    "the next attempt to renew them, and certificates near their\n"
	    "end that nothing renews, one line each, then a summary.\n"
	    "Exits 1 when anything needs attention, 0 when all is well.\n"
	    "\n"
	    "  -p, --profile P      only this profile's jobs and\n"
	    "                       certificates\n" },
	{ "hook", cmpctl_hook, "run a profile's reload command (test)",
	    "Usage: cmpctl hook test PROFILE\n"
	    "\n"
	    "Runs the reload_command of PROFILE now, as cmpd runs it after a\n"
	    "renewal (CMPD_EVENT=test, CMPD_CERT_ID the profile's current\n"
	    "certificate), without renewing anything, waits for it and shows\n"
	    "how it ended. Exits 0 if it exited with status 0, else 1. Only\n"
	    "for administrators of cmpd.\n" },
	{ "help", cmpctl_help, "show help",
	    "Usage: cmpctl help [COMMAND]\n"
	    "\n"
	    "Shows the commands, or the help of COMMAND.\n" },
};

const struct cmpctl_cmd *
cmpctl_cmd_find(const char *name)
{
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(cmds[i].name, name) == 0)
			return &cmds[i];
	return NULL;
}

void
cmpctl_help_all(FILE *f)
{
	fputs("Usage: cmpctl [--socket PATH] [--json] COMMAND [ARGS]\n"
	      "\n"
	      "Commands:\n",
	    f);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-11s  %s\n", cmds[i].name, cmds[i].summary);
	fputs("\n"
	      "Options:\n"
	      "  -s, --socket PATH  cmpd's socket (default: $CMPD_SOCKET, or\n"
	      "                     /run/cmpd/cmpd.sock)\n"
	      "  -j, --json         print JSON (one object, or an array for\n"
	      "                     lists) instead of text\n"
	      "  -h, --help         show this help\n"
	      "  -V, --version      show the version\n"
	      "\n"
	      "'cmpctl help COMMAND' or 'cmpctl COMMAND --help' shows a\n"
	      "command's options.\n"
	      "\n"
	      "Exit codes: 0 success; 1 the job failed or the CA refused;\n"
	      "2 usage error; 3 cmpd not reachable or internal error;\n"
	      "4 permission denied; 5 not found; 6 timed out waiting.\n",
	    f);
}

void
cmpctl_help_cmd(FILE *f, const struct cmpctl_cmd *cmd)
{
	fputs(cmd->help, f);
}

int
cmpctl_help(struct cmpctl *ctl, int argc, char **argv)
{
	const struct cmpctl_cmd *cmd;

	if (argc < 2) {
		cmpctl_help_all(stdout);
		return CMPCTL_EXIT_OK;
	}
	if (argc > 2)
		return cmpctl_usage(ctl, "help", "too many arguments");
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)
		argv[1] = "help";
	if ((cmd = cmpctl_cmd_find(argv[1])) == NULL)
		return cmpctl_usage(ctl, NULL, "unknown command '%s'", argv[1]);
	cmpctl_help_cmd(stdout, cmd);
	return CMPCTL_EXIT_OK;
}
