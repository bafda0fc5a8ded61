# syntax=docker/dockerfile:1
#
# authd: the daemon, with `authctl` on PATH. SQLite under /app/data by default
# (mount a volume there); set DATABASE_URL and KEY_ENCRYPTION_KEY for PostgreSQL,
# and ISSUER to the public URL (the default, http://HOST:PORT, names the container).
#
#   docker build -t authd .
#   docker run -p 3000:3000 -v authd-data:/app/data authd
#   docker exec -it <container> authctl doctor

# Production dependencies, from package-lock.json exactly as `npm ci` resolves them.
# All of them are plain JavaScript, so node_modules built here runs under Bun.
# Bun itself is a devDependency: the runtime image below already is Bun.
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# The same Bun version as the devDependency in package.json.
FROM oven/bun:1.4.5-slim
WORKDIR /app
# Docker's default stop grace is 10 s: in-flight requests get 8 of them, so the
# daemon closes its database and exits before a SIGKILL could come.
ENV HOST=0.0.0.0 \
    PORT=3000 \
    DATABASE_URL=sqlite:/app/data/auth.db \
    SHUTDOWN_TIMEOUT_MS=8000

COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json ./
COPY drizzle ./drizzle
COPY src ./src
COPY cli ./cli

# The code stays root-owned and read-only for the service user; only the data
# directory is writable.
RUN chmod 0755 cli/authctl.ts \
 && ln -s /app/cli/authctl.ts /usr/local/bin/authctl \
 && mkdir -p /app/data \
 && chown bun:bun /app/data \
 && chmod 0700 /app/data

USER bun
VOLUME /app/data
EXPOSE 3000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["bun", "-e", "const r = await fetch(`http://127.0.0.1:${process.env.PORT || 3000}/healthz`); process.exit(r.ok ? 0 : 1)"]

CMD ["bun", "src/main.ts"]
