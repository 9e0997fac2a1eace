import { create, createRegistry, fromBinary, toBinary, type DescFile, type Registry } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { ConnectRouter } from "@connectrpc/connect";
import { Code } from "@connectrpc/connect";
import {
  ServerReflection,
  ServerReflectionRequestSchema,
  ServerReflectionResponseSchema,
  type ServerReflectionRequest,
  type ServerReflectionResponse,
} from "@kiln/proto/grpc/reflection/v1/reflection_pb";
import {
  ServerReflection as ServerReflectionAlpha,
  ServerReflectionRequestSchema as AlphaRequestSchema,
  ServerReflectionResponseSchema as AlphaResponseSchema,
} from "@kiln/proto/grpc/reflection/v1alpha/reflection_pb";

/**
 * gRPC server reflection (v1 and v1alpha), so grpcurl, Postman and evans can list and
 * call every RPC. Both versions share one wire format, so v1alpha is served by
 * re-encoding v1 messages.
 */
export function registerReflection(router: ConnectRouter, files: readonly DescFile[]): void {
  const registry = createRegistry(...files);
  const byName = new Map<string, DescFile>();
  const index = (f: DescFile) => {
    if (byName.has(f.proto.name)) return;
    byName.set(f.proto.name, f); // proto.name keeps the ".proto" that clients ask for
    f.dependencies.forEach(index);
  };
  files.forEach(index);
  const lookup: Lookup = { symbol: (s) => fileOfSymbol(registry, s), file: (n) => byName.get(n) };
  const serviceNames = () => [...new Set(router.handlers.map((h) => h.service.typeName))];

  router.service(ServerReflection, {
    async *serverReflectionInfo(requests) {
      for await (const req of requests) yield answer(req, lookup, serviceNames);
    },
  });
  router.service(ServerReflectionAlpha, {
    async *serverReflectionInfo(requests) {
      for await (const req of requests) {
        const v1 = fromBinary(ServerReflectionRequestSchema, toBinary(AlphaRequestSchema, req));
        const res = answer(v1, lookup, serviceNames);
        yield fromBinary(AlphaResponseSchema, toBinary(ServerReflectionResponseSchema, res));
      }
    },
  });
}

interface Lookup {
  symbol(name: string): DescFile | undefined;
  file(name: string): DescFile | undefined;
}

function answer(req: ServerReflectionRequest, lookup: Lookup, services: () => string[]): ServerReflectionResponse {
  const base = { validHost: req.host, originalRequest: req };
  const files = (file: DescFile | undefined, what: string): ServerReflectionResponse => {
    if (!file) return error(base, `${what} not found`);
    return create(ServerReflectionResponseSchema, {
      ...base,
      messageResponse: { case: "fileDescriptorResponse", value: { fileDescriptorProto: withDependencies(file) } },
    });
  };
  switch (req.messageRequest.case) {
    case "listServices":
      return create(ServerReflectionResponseSchema, {
        ...base,
        messageResponse: { case: "listServicesResponse", value: { service: services().map((name) => ({ name })) } },
      });
    case "fileByFilename":
      return files(lookup.file(req.messageRequest.value), `file "${req.messageRequest.value}"`);
    case "fileContainingSymbol":
      return files(lookup.symbol(req.messageRequest.value), `symbol "${req.messageRequest.value}"`);
    case "fileContainingExtension":
      return error(base, "extensions are not used by this server");
    case "allExtensionNumbersOfType":
      return create(ServerReflectionResponseSchema, {
        ...base,
        messageResponse: {
          case: "allExtensionNumbersResponse",
          value: { baseTypeName: req.messageRequest.value, extensionNumber: [] },
        },
      });
    default:
      return error(base, "empty request");
  }
}

function fileOfSymbol(registry: Registry, symbol: string): DescFile | undefined {
  const name = symbol.replace(/^\./, "");
  const direct = registry.get(name);
  if (direct) return direct.file;
  // A method or field: "pkg.Service.Method" lives in the file of "pkg.Service".
  return registry.get(name.slice(0, name.lastIndexOf(".")))?.file;
}

/** The file first, then its transitive imports, each encoded once. */
function withDependencies(file: DescFile): Uint8Array[] {
  const seen = new Set<string>();
  const out: Uint8Array[] = [];
  const visit = (f: DescFile) => {
    if (seen.has(f.proto.name)) return;
    seen.add(f.proto.name);
    out.push(toBinary(FileDescriptorProtoSchema, f.proto));
    f.dependencies.forEach(visit);
  };
  visit(file);
  return out;
}

function error(base: Pick<ServerReflectionResponse, "validHost" | "originalRequest">, message: string): ServerReflectionResponse {
  return create(ServerReflectionResponseSchema, {
    ...base,
    messageResponse: { case: "errorResponse", value: { errorCode: Code.NotFound, errorMessage: message } },
  });
}
