// The one error every devmesh command throws for a command line it cannot run: the message is printed
// and the exit status is 2 (a failure of the command itself is 1).
export class UsageError extends Error {}
