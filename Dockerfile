# Parley runs its TypeScript sources directly on Node's type stripping: no build step.
FROM node:24-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY bin ./bin
COPY src ./src
COPY migrations ./migrations
# The workflow bundle is built once here rather than at every worker start (webpack in a child
# process, ~1 s of start-up and a ~250 MB memory peak).
RUN node bin/parley.js bundle-workflows /app/workflow-bundle.js
ENV PARLEY_WORKFLOW_BUNDLE=/app/workflow-bundle.js
# tini reaps what a worker's children leave behind; bubblewrap is the sandbox `execute` runs commands
# in (prlimit, for its limits, is in util-linux, part of every Debian image). See docs/SECURITY.md
# for what the container needs to allow (docker-compose.yml sets it for the worker).
RUN apt-get update && apt-get install -y --no-install-recommends tini bubblewrap && rm -rf /var/lib/apt/lists/*
# The node flag is the one bin/parley.js explains.
ENTRYPOINT ["tini", "--", "node", "--max-semi-space-size=8", "--heap-growing-percent=25", "bin/parley.js"]
CMD ["api"]
