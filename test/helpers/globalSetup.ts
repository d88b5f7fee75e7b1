/** Says loudly, before and after the run, whether the MySQL copies of the suites ran. */
export default function setup(): () => void {
  const banner =
    process.env.TEST_MYSQL_URL === undefined || process.env.TEST_MYSQL_URL === ''
      ? '\n*** TEST_MYSQL_URL is not set: every "[mysql]" suite is SKIPPED; only SQLite was tested. ***\n'
      : `\n*** MySQL suites run against ${process.env.TEST_MYSQL_URL.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@')} ***\n`;
  process.stdout.write(banner);
  return () => process.stdout.write(banner);
}
