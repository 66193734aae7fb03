// The import page: a picked CSV or JSON file is read into the form and checked at once; rows
// edited after a check must be checked again before they can be scheduled.
const LIMIT = 2 * 1024 * 1024;
const form = document.getElementById('import-form');
const picker = document.querySelector('[data-import]');
const content = document.getElementById('content');
const fileName = document.getElementById('file_name');
const status = document.getElementById('import-status');
const check = document.getElementById('check');

// After a check or a schedule, the verdicts are what to read next.
document.getElementById('result-title')?.focus();

if (form && picker && content && fileName && status && check) {
  picker.addEventListener('change', async () => {
    const file = picker.files && picker.files[0];
    if (!file) return;
    if (file.size > LIMIT) {
      status.textContent = `${file.name} is ${file.size} bytes; an import takes at most ${LIMIT} bytes: split it.`;
      return;
    }
    status.textContent = `Reading ${file.name}…`;
    try {
      content.value = await file.text();
    } catch (error) {
      status.textContent = `${file.name} could not be read: ${error}`;
      return;
    }
    fileName.value = file.name;
    status.textContent = `Checking ${file.name}…`;
    form.requestSubmit(check);
  });
  content.addEventListener('input', () => {
    const schedule = document.getElementById('schedule');
    if (schedule && !schedule.disabled) {
      schedule.disabled = true;
      const note = document.getElementById('schedule-note');
      if (note) note.textContent = 'The rows changed since they were checked: check them again first.';
    }
  });
}
