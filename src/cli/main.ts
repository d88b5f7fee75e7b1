import { runCli } from './runCli.js';

// grpc-js passes the target host as the TLS server name even when it is an IP address, and Node warns
// about that (DEP0123) on stderr. The certificate is still checked against the IP; a person running a
// command can do nothing about a dependency's deprecation, so such warnings are not shown.
process.noDeprecation = true;

/** The `apikeys` command (see bin/apikeys.js): runs, then exits with the code runCli chose. */
process.exitCode = await runCli(process.argv.slice(2), {
  env: process.env,
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
});
