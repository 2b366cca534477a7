# raftkv node image: one `raftkv serve` per container, configured through the environment
# (RAFTKV_CONFIG, RAFTKV_ID, RAFTKV_DATA, RAFTKV_BIND). docker-compose.yml runs three of them.

# ---- build: the whole lock file (TypeScript and its types), then tsc to dist/
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` (the build) needs the sources, which come next; no dependency needs
# an install script to be compiled against.
RUN --mount=type=cache,target=/root/.npm npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- runtime: production dependencies and dist/ only, as the unprivileged `node` user
FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# LevelDB's binding (classic-level) and msgpackr's ship prebuilt binaries that load without
# their install scripts.
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --ignore-scripts --no-audit --no-fund
COPY --from=build /app/dist ./dist
COPY cluster ./cluster
# A fresh named volume mounted on /data (or /secrets, where compose keeps the cluster secret)
# takes this directory's owner, so the node can write it.
RUN mkdir -p /data /secrets && chown node:node /data /secrets
ENV RAFTKV_DATA=/data
VOLUME ["/data"]
USER node
# Ready (not just alive): every local shard group knows its leader and has applied its commit
# index. Asks the node's own API port, from the cluster file entry of RAFTKV_ID.
HEALTHCHECK --interval=5s --timeout=10s --start-period=60s --retries=3 CMD ["node", "-e", "const c=JSON.parse(require('fs').readFileSync(process.env.RAFTKV_CONFIG,'utf8'));const u=new URL(c.nodes.find((n)=>n.id===process.env.RAFTKV_ID).api);const b=process.env.RAFTKV_BIND;if(b)u.hostname=b==='0.0.0.0'?'127.0.0.1':b==='::'?'[::1]':b;fetch(new URL('/readyz',u)).then((r)=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["serve"]
