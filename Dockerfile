# syntax=docker/dockerfile:1
#
# authd as two standalone executables (`npm run build`: bun build --compile --bytecode,
# migrations and the common-password list inside) on a distroless base: no
# shell, no package manager, no Bun or Node, no sources, no node_modules.
# SQLite under /app/data by default (mount a volume there); set DATABASE_URL
# and KEY_ENCRYPTION_KEY for PostgreSQL, and ISSUER to the public URL (the
# default, http://HOST:PORT, names the container).
#
#   docker build -t authd .
#   docker run -p 3000:3000 -v authd-data:/app/data authd
#   docker exec -it <container> authctl doctor
#
# tests/e2e/standalone.test.ts reproduces this image without a Docker engine:
# it reads this file's final stage (ENV, USER, HEALTHCHECK, ENTRYPOINT),
# builds, and runs the two binaries from an empty directory as an
# unprivileged user with only that environment.

# The build: dependencies exactly as package-lock.json pins them (Bun is a
# devDependency), then `npm run build` writes dist/authd and dist/authctl.
FROM node:22-bookworm-slim AS build
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY drizzle ./drizzle
COPY src ./src
COPY cli ./cli
RUN npm run build \
 && mkdir -m 0700 /build/data

# glibc and libstdc++ (what a Bun executable links against), a nonroot user
# (65532), CA certificates and tzdata; nothing else.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /build/dist/authd /build/dist/authctl /usr/local/bin/
# The only writable place: the database (and its key file) live here.
COPY --from=build --chown=65532:65532 /build/data /app/data
WORKDIR /app

# Docker's default stop grace is 10 s: in-flight requests get 8 of them, so the
# daemon closes its database and exits before a SIGKILL could come.
ENV HOST=0.0.0.0 \
    PORT=3000 \
    DATABASE_URL=sqlite:/app/data/auth.db \
    SHUTDOWN_TIMEOUT_MS=8000

USER 65532:65532
VOLUME /app/data
EXPOSE 3000

# No shell and no curl in the image: the daemon's own binary asks GET /readyz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/authd", "--healthcheck"]

ENTRYPOINT ["/usr/local/bin/authd"]
