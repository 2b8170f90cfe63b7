export interface FloorActivities {
  step(): Promise<void>;
  local(): Promise<void>;
}

export const floorActivities: FloorActivities = {
  async step() {},
  async local() {},
};
