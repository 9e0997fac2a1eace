import type { Interceptor } from "@connectrpc/connect";

/** Client interceptors that show `token` to the called service (none without one): a service calling another. */
export function sendToken(token: string | undefined): Interceptor[] {
  if (!token) return [];
  return [
    (next) => (req) => {
      req.header.set("authorization", `Bearer ${token}`);
      return next(req);
    },
  ];
}
