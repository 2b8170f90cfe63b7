# Parley runs its TypeScript sources directly on Node's type stripping: no build step.
FROM node:24-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY bin ./bin
COPY src ./src
COPY migrations ./migrations
# tini reaps the tool processes `execute` leaves behind when it kills a process group.
RUN apt-get update && apt-get install -y --no-install-recommends tini && rm -rf /var/lib/apt/lists/*
ENTRYPOINT ["tini", "--", "node", "bin/parley.js"]
CMD ["api"]
