/*
 * The table of cmpctl's commands and their help texts.
 */
#include <string.h>

#include "cmpctl.h"

static const struct cmpctl_cmd cmds[] = {
	{ "enroll", cmpctl_enroll, "ask for a certificate",
	    "Usage: cmpctl enroll --profile P [--subject DN] [--san SAN]...\n"
	    "                     [--key-type T | --key-id ID] [--wait]\n"
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
	{ "list", cmpctl_list, "list the certificates cmpd enrolled",
	    "Usage: cmpctl list [--profile P]\n"
	    "\n"
	    "Lists the certificates cmpd enrolled, of profile P or of all.\n"
	    "\n"
	    "  -p, --profile P      only certificates of this profile\n" },
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
		fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].summary);
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
