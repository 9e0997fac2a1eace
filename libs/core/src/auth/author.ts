import { invalidArgument, permissionDenied } from "../errors.js";
import { printable } from "../names.js";
import type { TokenClaims } from "./token.js";

const MAX_AUTHOR_LENGTH = 200;

/**
 * Who a stored version is by: the caller, or whom a service stores it for (`onBehalfOf`, an
 * executor writing a job's results names the job's creator). Only a service's token may
 * name another, or any caller where tokens are not checked; "" without either.
 */
export function authorOf(onBehalfOf: string, caller: TokenClaims | undefined, what: string): string {
  if (!onBehalfOf) return caller?.sub ?? "";
  if (caller && caller.role !== "service") {
    throw permissionDenied("ON_BEHALF_NOT_ALLOWED", `${printable(caller.sub)}'s token (role ${caller.role}) cannot store ${what} on behalf of another: only a service's can`, { subject: caller.sub });
  }
  if (onBehalfOf.length > MAX_AUTHOR_LENGTH) throw invalidArgument("INVALID_AUTHOR", `on_behalf_of is longer than ${MAX_AUTHOR_LENGTH} characters`);
  return onBehalfOf;
}
