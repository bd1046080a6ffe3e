// The wire types written by hand in @parley/protocol (the WebSocket events carry the same
// objects as REST) against the ones generated from the OpenAPI document (openapi.ts): this file
// does not compile when they drift apart.

import type * as Protocol from "@parley/protocol";
import type * as Rest from "./openapi";

/** True when each type is assignable to the other. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

export const contract: [
  Same<Rest.Message, Protocol.Message>,
  Same<Rest.Reaction, Protocol.Reaction>,
  Same<Rest.Attachment, Protocol.Attachment>,
  Same<Rest.Member, Protocol.Member>,
  Same<Rest.Conversation, Protocol.Conversation>,
  Same<Rest.User, Protocol.User>,
  Same<Rest.Me, Protocol.Me>,
  Same<Rest.Error["error"], Omit<Protocol.ErrorBody, "code"> & { code: Protocol.ErrorCode }>,
] = [true, true, true, true, true, true, true, true];
